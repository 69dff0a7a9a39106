"""The serving container's build file stays consistent with the code it packages."""

import re
import subprocess
import sys

from tests.helpers import REPO

DOCKERFILE = (REPO / "endpoint" / "Dockerfile").read_text()


def test_dockerfile_copies_what_exists_and_runs_the_endpoint_module():
    sources = re.findall(r"^COPY\s+(\S+)\s+\S+$", DOCKERFILE, flags=re.M)
    assert sources and all((REPO / s).exists() for s in sources)
    assert 'ENTRYPOINT ["python3", "-m", "medserve.endpoint"]' in DOCKERFILE
    assert 'CMD ["serve"]' in DOCKERFILE and "EXPOSE 8080" in DOCKERFILE


def test_the_entrypoint_parses_sagemakers_serve_argument():
    done = subprocess.run(
        [sys.executable, "-m", "medserve.endpoint", "serve", "--help"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert done.returncode == 0 and "--model-dir" in done.stdout
