"""Run the whole method on the bundled example (the README's first command)."""
import subprocess
import sys

sys.exit(subprocess.call([sys.executable, "-m", "hiddenpop.cli", "--help"]))
