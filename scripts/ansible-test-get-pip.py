"""Stand-in for the get-pip.py script that ansible-test runs to put pip into its empty virtual environments.

ansible-test (`make sanity`) downloads get-pip.py from a host of its own on its first run on a machine, and that
host is not a package registry: where only package registries can be reached, the download fails and no sanity
test runs. The Makefile saves this script where ansible-test looks for its cached copy. It does what get-pip.py
does with the same arguments: it bootstraps the pip that ships with Python (ensurepip) into the running
interpreter's environment, then has that pip install what ansible-test asked for (pip==<version>) from the
package index pip is configured with.
"""

import os
import subprocess
import sys

# Options of get-pip.py itself, not of `pip install`.
GET_PIP_ONLY = ("--no-setuptools", "--no-wheel")


def main(argv):
    # ensurepip in a process of its own: it points PIP_CONFIG_FILE at /dev/null in its environment, and the
    # pip install below must read the machine's pip configuration (index, certificates).
    env = dict(os.environ)
    rc = subprocess.call([sys.executable, "-m", "ensurepip", "--default-pip"], env=env)
    if rc:
        return rc
    args = [arg for arg in argv if arg not in GET_PIP_ONLY]
    return subprocess.call([sys.executable, "-m", "pip", "install", *args], env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
