from __future__ import annotations

from pathlib import Path

import pytest

from lmsops.core.errors import ConfigError
from lmsops.images.dockerfile import base_uses, logical_lines
from tests.unit.conftest import write


def uses(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path / "Dockerfile", text)
    return [use.build_arg for use in base_uses(path, "svc/Dockerfile")]


def test_multi_stage_uses_are_read_in_order(tmp_path: Path) -> None:
    text = """\
        # builder first
        ARG PYTHON_BUILD_IMAGE
        ARG PYTHON_IMAGE
        FROM ${PYTHON_BUILD_IMAGE} AS build
        RUN echo \\
            FROM not-an-instruction
        FROM $PYTHON_IMAGE
        COPY --from=build /opt/venv /opt/venv
        """
    assert uses(tmp_path, text) == ["PYTHON_BUILD_IMAGE", "PYTHON_IMAGE"]


def test_a_stage_name_is_not_a_base(tmp_path: Path) -> None:
    text = "ARG OS_IMAGE\nFROM ${OS_IMAGE} AS base\nFROM base AS final\n"
    assert uses(tmp_path, text) == ["OS_IMAGE"]


def test_a_literal_image_is_refused_with_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"svc/Dockerfile:2: FROM python:3.12-slim names an image directly"):
        uses(tmp_path, "ARG OS_IMAGE\nFROM python:3.12-slim\n")


def test_the_build_arg_must_be_declared_before_from(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"svc/Dockerfile:1: .*`ARG OS_IMAGE` is not declared"):
        uses(tmp_path, "FROM ${OS_IMAGE}\n")


def test_a_default_would_bypass_the_source_of_truth(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="has a default value"):
        uses(tmp_path, "ARG OS_IMAGE=debian:bookworm\nFROM ${OS_IMAGE}\n")


def test_a_dockerfile_without_from_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no FROM instruction"):
        uses(tmp_path, "ARG OS_IMAGE\n")


def test_logical_lines_join_continuations_and_skip_comments() -> None:
    text = "# c\nRUN a \\\n  && b\n\nUSER 1\n"
    assert logical_lines(text) == [(2, "RUN a && b"), (5, "USER 1")]


def test_scratch_is_not_a_base(tmp_path: Path) -> None:
    text = "ARG OS_IMAGE\nFROM ${OS_IMAGE} AS rootfs\nFROM scratch\nCOPY --from=rootfs / /\n"
    assert uses(tmp_path, text) == ["OS_IMAGE"]
