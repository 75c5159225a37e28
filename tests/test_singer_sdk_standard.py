"""The Meltano SDK's standard tap tests, against a module-wide emulator."""

from __future__ import annotations

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_vidnavigator.emulator import Emulator, EmulatorConfig
from tap_vidnavigator.tap import TapVidNavigator

# get_tap_test_class needs its config when the class is built, at import time, so the
# emulator starts here and lives as long as the test process (its threads are daemons).
EMULATOR = Emulator(EmulatorConfig(processing_seconds=86_400, processing_polls=1)).start()

CONFIG = {
    "api_key": "demo-key",
    "api_url": EMULATOR.url,
    "profiles": ["@size120", {"profile_url": "@size80", "min_likes": 100}],
    "searches": ["#airfryer size60", {"query": "cats size40", "sort_by": "most_liked"}],
    "poll_interval": 0.05,
    "page_size": 50,
    # Captions only: nothing is bought, so the speech-to-text ledger is never written.
    "transcripts": {"enabled": True},
}

TestTapVidNavigator = get_tap_test_class(
    TapVidNavigator,
    config=CONFIG,
    suite_config=SuiteConfig(max_records_limit=200),
)
