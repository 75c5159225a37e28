"""A faithful local emulator of the VidNavigator TikTok profile API.

Start it with ``python -m tap_vidnavigator.emulator`` (or ``vidnavigator-emulator``);
its first line of output is the API base URL. See :mod:`.data` for the handle scheme
that decides each synthetic profile's size and fate.
"""

from tap_vidnavigator.emulator.extraction_options import ExtractionConfig
from tap_vidnavigator.emulator.faults import ALL_FAULT_KINDS, ANSWER_LOST, FAULT_KINDS, FaultPlan
from tap_vidnavigator.emulator.server import Emulator
from tap_vidnavigator.emulator.state import DEMO_KEYS, EmulatorConfig
from tap_vidnavigator.emulator.transcript_options import TranscriptConfig

__all__ = [
    "ALL_FAULT_KINDS",
    "ANSWER_LOST",
    "DEMO_KEYS",
    "FAULT_KINDS",
    "Emulator",
    "EmulatorConfig",
    "ExtractionConfig",
    "FaultPlan",
    "TranscriptConfig",
]
