from pathlib import Path

import pytest

SHARED_CLIPS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "clips"


@pytest.fixture(scope="session")
def shared_clips() -> Path:
    if not (SHARED_CLIPS / "SOURCES.tsv").exists():
        pytest.skip(f"real clips not present at {SHARED_CLIPS}")
    return SHARED_CLIPS
