"""Packaging for amplitude_legacy: the legacy Amplitude Node SDK model for Python backends."""

from __future__ import annotations

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(
    r'^__version__ = "([^"]+)"', (HERE / "amplitude_legacy" / "_version.py").read_text(), re.M
).group(1)  # type: ignore[union-attr]

setup(
    name="amplitude_legacy",
    version=VERSION,
    description=(
        "The legacy Amplitude Node SDK (@amplitude/node) model for Python backends, "
        "with a road to the plugin API."
    ),
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.9",
    packages=find_packages(include=["amplitude_legacy", "amplitude_legacy.*"]),
    package_data={"amplitude_legacy": ["py.typed"], "amplitude_legacy.testing": ["static/*"]},
    install_requires=[
        "urllib3>=1.26",
        "requests>=2.25",
        "dataclasses-json>=0.5.7",
    ],
    extras_require={
        "speed": ["orjson>=3.6"],
        "official": ["amplitude-analytics>=1.2"],
        "bench": ["amplitude-analytics", "segment-analytics-python", "posthog", "orjson", "psutil"],
        "test": [
            "pytest>=7",
            "pytest-timeout>=2",
            "mypy>=1.5",
            "ruff>=0.4",
            "types-requests",
            "amplitude-analytics>=1.2",
            "mkdocs>=1.5",
            "mkdocs-material>=9",
            "mkdocstrings[python]>=0.24",
            "flask>=2",
            "gevent>=21",
            "selenium>=4.11",
            # integrations (real frameworks, a real Celery worker on a real Redis)
            "django>=4.2",
            "flask-login>=0.6",
            "fastapi>=0.100",
            "starlette>=0.27",
            "httpx2",
            "celery>=5.2",
            "redis>=4",
            "pyspark>=3.5",
            "fastjsonschema>=2.20",
            "psutil",  # bench.spark --cpu, and its test
            "orjson",  # the collector's quick parse, and its differential test
        ],
        "django": ["django>=4.2"],
        "flask": ["flask>=2.2"],
        "fastapi": ["fastapi>=0.100"],
        "starlette": ["starlette>=0.27"],
        "celery": ["celery>=5.2"],
        "spark": ["pyspark>=3.5"],
        "docs": ["mkdocs>=1.5", "mkdocs-material>=9", "mkdocstrings[python]>=0.24"],
        "redis": ["redis>=5"],
        "tracking-plan": ["fastjsonschema>=2.20"],
    },
    entry_points={
        "console_scripts": ["amplitude-legacy = amplitude_legacy._cli:main"],
        "pytest11": ["amplitude_legacy = amplitude_legacy.testing.pytest_plugin"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Typing :: Typed",
        "License :: OSI Approved :: MIT License",
    ],
)
