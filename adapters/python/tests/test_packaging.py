"""pyproject.toml's standard-library build backend: the wheel pip installs
holds the caddy_session package and its metadata, and nothing else."""

import os
import sys
import tempfile
import unittest
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "_build"))

try:
    import stdlib_backend
except ImportError:
    stdlib_backend = None


@unittest.skipIf(sys.version_info < (3, 11), "the backend reads pyproject.toml with tomllib (3.11)")
class WheelTest(unittest.TestCase):

    def test_wheel(self):
        with tempfile.TemporaryDirectory() as out:
            self.assertEqual(stdlib_backend.get_requires_for_build_wheel(), [])
            name = stdlib_backend.build_wheel(out)
            self.assertEqual(name, "caddy_session-0.1.0-py3-none-any.whl")
            with zipfile.ZipFile(os.path.join(out, name)) as z:
                names = set(z.namelist())
                for module in ("__init__", "flask", "session", "values", "wsgi"):
                    self.assertIn("caddy_session/%s.py" % module, names)
                self.assertFalse([n for n in names if "tests" in n or "example" in n or n.endswith(".pyc")], names)
                meta = z.read("caddy_session-0.1.0.dist-info/METADATA").decode()
                self.assertIn("Name: caddy-session\n", meta)
                self.assertIn("Requires-Dist: PyJWT>=2.4\n", meta)
                self.assertIn('Requires-Dist: Flask>=2.2; extra == "flask"\n', meta)
                record = z.read("caddy_session-0.1.0.dist-info/RECORD").decode().splitlines()
                self.assertEqual(len(record), len(names))


if __name__ == "__main__":
    unittest.main()
