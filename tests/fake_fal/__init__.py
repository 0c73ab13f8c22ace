from tests.fake_fal.server import FakeFal, Fault, Job, Recorded, Script

__all__ = ["FakeFal", "Fault", "Job", "Recorded", "Script"]
