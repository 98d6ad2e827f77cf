"""Images: base-images/versions.yaml, reading Dockerfiles, discovering the images, the plan (each
image's identity and tag from the files alone), bootstrapping the OS root, building, wheelhouses and
locks, what a change affects, an image's facts, `outdated` and base upgrades."""
