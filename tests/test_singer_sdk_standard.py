"""The Meltano SDK's standard tap tests, against a module-wide emulator."""

from __future__ import annotations

import tempfile

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
    # Captions only: no speech-to-text is bought.
    "transcripts": {"enabled": True},
    # Two videos' extraction each run: the purchase ledger goes to a folder of this
    # process, never the working directory's.
    "extraction": {
        "enabled": True,
        "max_per_run": 2,
        "schema": {"brand": {"type": "String", "description": "The brand named"}},
    },
    "ledger_dir": tempfile.mkdtemp(prefix="tap-vidnavigator-standard-ledger-"),
}

TestTapVidNavigator = get_tap_test_class(
    TapVidNavigator,
    config=CONFIG,
    suite_config=SuiteConfig(max_records_limit=200),
)
