"""What every image's build context holds: the sources of the one installed package (workloads and
adapters, pyproject.toml). Each image adds its own folders; the rest of the repository is excluded, so
an unrelated change does not rebuild it."""

PACKAGE_SOURCES = ["pyproject.toml", "workloads", "adapters"]
