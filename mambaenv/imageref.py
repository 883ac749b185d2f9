"""Image references (``registry.lab:5000/team/mamba:v1``, ``mamba@sha256:...``) read by Docker's own rules.

The grammar is the one in distribution/reference (``reference.go``, ``normalize.go``):

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [domain "/"] path-component ["/" path-component]*
    domain     := host [":" port]       (the first component, when it holds "." or ":", is "localhost", or has capitals)
    tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}

So the colon of a port is never a tag separator: ``127.0.0.1:5999/a:1`` is domain ``127.0.0.1:5999``, path ``a``,
tag ``1``. A name without a domain means Docker Hub to Docker, while Podman wants it fully qualified or under
``localhost/`` (its local images); ``for_podman`` makes that explicit.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from mambaenv.errors import BadInput

_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH = re.compile(rf"^{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$")
_DOMAIN = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:]+\])(?::[0-9]+)?$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$")
NAME_MAX = 255  # distribution/reference's NameTotalLengthMax
FIX = "give it as NAME[:TAG], e.g. mamba-lab:v1 or registry.lab:5000/team/mamba-lab:v1 (lower case; a tag of letters, digits, _ . -)"


@dataclass(frozen=True)
class ImageRef:
    domain: str | None  # registry host[:port]; None: Docker Hub for Docker, ambiguous for Podman
    path: str  # team/mamba-lab
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}" if self.domain else self.path

    @property
    def tag_or_latest(self) -> str:
        return self.tag or "latest"

    def __str__(self) -> str:
        return self.name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    def with_domain(self, domain: str | None) -> ImageRef:
        return ImageRef(domain, self.path, self.tag, self.digest)

    def for_podman(self) -> ImageRef:
        """A short name as Podman stores what it builds, commits and imports: under ``localhost/``."""
        return self if self.domain else self.with_domain("localhost")


def _split_domain(name: str) -> tuple[str | None, str]:
    first, slash, rest = name.partition("/")
    if slash and (any(c in first for c in ".:") or first == "localhost" or first.lower() != first):
        return first, rest
    return None, name


def parse_ref(text: str, what: str = "image name") -> ImageRef:
    """``text`` as Docker reads it; anything Docker would refuse is one BadInput naming it."""
    ref = (text or "").strip()
    rest, _, digest = ref.partition("@")
    name, tag = rest, None
    last_colon, last_slash = rest.rfind(":"), rest.rfind("/")
    if last_colon > last_slash:  # a colon after the last slash ends the name; one before it belongs to a port
        name, tag = rest[:last_colon], rest[last_colon + 1:]
    domain, path = _split_domain(name)
    problems = [
        (not ref, "is empty"),
        (len(name) > NAME_MAX, f"is longer than {NAME_MAX} characters"),
        (domain is not None and not _DOMAIN.match(domain), f"has a malformed registry host {domain!r}"),
        (not _PATH.match(path), f"has a malformed repository path {path!r}"),
        (tag is not None and not _TAG.match(tag), f"has a malformed tag {tag!r}"),
        (bool(digest) and not _DIGEST.match(digest), f"has a malformed digest {digest!r}"),
    ]
    for bad, why in problems:
        if bad:
            raise BadInput(f"{what} {text!r} {why}", FIX)
    return ImageRef(domain, path, tag, digest or None)
