import sys
from pathlib import Path

# Tests import the package from this checkout (no install needed) and the helpers
# beside them.
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
