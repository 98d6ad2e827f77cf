"""Where an image's SBOM comes from, and making sure one travels with every pushed image.

An image this engine has is scanned (or read from the cache: exact per image ID). An image it does
not have but whose reference names a registry digest (a Swarm service running on other nodes) is
read from its registry, where publishing attached it. Anything else is one clear error.
"""

from __future__ import annotations

from collections.abc import Callable

from lmsops.core.docker import Docker
from lmsops.core.errors import LmsopsError
from lmsops.core.filelock import exclusive, machine_lock
from lmsops.supply.cyclonedx import parse
from lmsops.supply.manifest import RegistryImage, registry_image
from lmsops.supply.oci import Attached, SbomRegistry
from lmsops.supply.syft import ImageNotHereError, Scan, Scanner

Registries = Callable[[str], SbomRegistry]  # registry address -> its client (one per address)


def registries() -> Registries:
    """One client per registry address, made on first use (each checks once that its registry answers)."""
    made: dict[str, SbomRegistry] = {}

    def client(address: str) -> SbomRegistry:
        if address not in made:
            made[address] = SbomRegistry(address)
        return made[address]

    return client


def sbom_of(scanner: Scanner, reference: str, clients: Registries, name: str | None = None) -> Scan:
    """The SBOM of the image `reference`: from this engine when it has the image, else from its registry."""
    try:
        return scanner.scan(reference, name)
    except ImageNotHereError:
        image = registry_image(reference)
        if image is None:
            raise
    attached = clients(image.registry).attached(image)
    if attached is None or attached.document is None:
        raise ImageNotHereError(
            f"image {reference} is not on this Docker engine and its registry holds no SBOM for it "
            "(publish attaches one: nox -s publish)"
        )
    return Scan(parse(attached.document, attached.reference), "registry")


def ensure_attached(
    docker: Docker, scanner: Scanner, client: SbomRegistry, image: RegistryImage
) -> tuple[Attached, Scan | None]:
    """The image's SBOM in its registry: the one already attached, or made now and attached (the
    scan returned). The SBOM is made from exactly the pushed image: the local image whose registry
    digest it is, else the image pulled by digest (a tag built on another machine may differ)."""
    found = client.find(image)
    if found:
        return Attached(image, found), None
    reference = str(image)
    if docker.image_id(reference) is None:
        docker.pull(reference)
    scan = scanner.scan(reference)
    # Attaches to one registry take turns on this machine, across clones (each has its own publish
    # lock): every attach uploads the same empty config blob (`{}`, sha256:44136fa3...), and two
    # uploads of one blob at once made the registry refuse a manifest ("digest invalid", "manifest blob
    # unknown: sha256:44136fa3..."; a fresh CI run, two clones publishing side by side). Whoever comes
    # second finds an SBOM the first attached to the same image and keeps it.
    with exclusive(machine_lock(f"sbom-{image.registry}")):
        found = client.find(image)
        if found:
            return Attached(image, found), None
        return client.attach(image, scan.sbom), scan


def sbom_references(images: dict[str, str], clients: Registries) -> dict[str, str]:
    """name -> the reference of the SBOM attached to each image that names a registry digest.

    For the release record: an image without one, or a registry that cannot be asked, is left out
    (the release is recorded anyway; history shows no SBOM for it)."""
    found: dict[str, str] = {}
    unanswered: set[str] = set()  # asked once: a registry that is down is not asked again per image
    for name, reference in sorted(images.items()):
        image = registry_image(reference)
        if image is None or image.registry in unanswered:
            continue
        try:
            digest = clients(image.registry).find(image)
        except LmsopsError:
            unanswered.add(image.registry)
            continue
        if digest:
            found[name] = Attached(image, digest).reference
    return found
