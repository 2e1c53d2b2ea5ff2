"""Every environment variable the settings read is documented in docs/configuration.md."""

from pathlib import Path

from cc_executor.config import _SECTIONS

DOC = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text()


def test_every_setting_is_documented() -> None:
    missing = []
    for cls in _SECTIONS.values():
        for info in cls.model_fields.values():
            for name in getattr(info.validation_alias, "choices", None) or []:
                if f"`{name}`" not in DOC:
                    missing.append(name)
    assert not missing, f"undocumented settings: {missing}"
