"""Supply chain: a software bill of materials (SBOM) for every image lmsops builds.

syft reads each image from a `docker save` archive (it never talks to the daemon itself) and writes
CycloneDX JSON, cached per image ID; the SBOM travels with the image, attached to it in its registry
by digest; `nox -s sbom` prints, writes and searches them; base upgrades compare them
(docs/sbom.md). A layer of its own just above core: images (upgrade reports) and releases
(publishing, the release record) use it, and it uses only core."""
