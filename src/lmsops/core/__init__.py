"""What every other package stands on: errors, running programs (proc), the one Docker adapter
(docker, swarmapi), the repository's paths, git (gitinfo), hashing, YAML files and progress lines.
It imports no other lmsops package."""
