"""Run the PyPI scim2-tester conformance checks against a running idbridge.

Usage: python scim2_tester_run.py BASE_URL TOKEN [--allow TITLE ...]
Prints one line per check and a closing 'N passed, N failed' line; exits 1
when any check ends in ERROR (unless its title is listed with --allow).
"""

import sys

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server


def main() -> int:
    base, token = sys.argv[1], sys.argv[2]
    allowed = set(sys.argv[sys.argv.index("--allow") + 1 :]) if "--allow" in sys.argv else set()
    http = httpx2.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    client = SyncSCIMClient(http)
    results = check_server(client, raise_exceptions=False)
    passed = failed = 0
    for r in results:
        bad = r.status == Status.ERROR and r.title not in allowed
        failed += bad
        passed += not bad
        resource = getattr(r, "resource_type", None) or ""
        print(f"{r.status.name:11} {resource:6} {r.title}: {r.reason or ''}".rstrip())
    print(f"scim2-tester: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
