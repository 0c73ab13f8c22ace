"""Run the fake fal on its own: `python -m tests.fake_fal [--port N]` prints its base URL, serves until killed."""

import argparse
import threading

from tests.fake_fal.server import FakeFal

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, default=0)
args = parser.parse_args()
fake = FakeFal(port=args.port).start()
print(fake.base, flush=True)
threading.Event().wait()
