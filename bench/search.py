#!/usr/bin/env python3
"""Times GET /api/v1/licenses/ filters against a seeded licensd (issue 5). Standard library only.

Usage: search.py BASE_URL TOKEN [RUNS]
Prints a Markdown table: each filter with a selective value taken from a real seeded license, its p50 and
p95 over RUNS requests, and the count it returned.
"""
import json
import statistics
import sys
import time
import urllib.parse
import urllib.request

base, token = sys.argv[1], sys.argv[2]
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 15


def get(path):
    req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    t = time.perf_counter()
    with urllib.request.urlopen(req) as r:
        body = json.loads(r.read())
    return body, (time.perf_counter() - t) * 1000


total = get("/api/v1/licenses/?limit=1")[0]["count"]
lic = get(f"/api/v1/licenses/?active=true&limit=1&offset={total // 4}")[0]["results"][0]
dev = get(f"/api/v1/devices/?license={lic['id']}&limit=1")[0]["results"][0]
cust = lic["customer"]
key = lic["license_key"]
created = lic["created_at"][:10]

queries = [
    ("license_key", f"license_key={key}"),
    ("license_key__icontains (8 chars)", f"license_key__icontains={key[6:14].lower()}"),
    ("license_key__startswith", f"license_key__startswith={key[:11]}"),
    ("order__store_id", f"order__store_id={lic['order_store_id']}"),
    ("order__store_id__icontains", f"order__store_id__icontains={lic['order_store_id'][-10:]}"),
    ("customer__email", f"customer__email={cust['email']}"),
    ("customer__email__icontains (local part)", f"customer__email__icontains={cust['email'].split('@')[0]}"),
    ("customer__name__icontains", f"customer__name__icontains={cust['first_name']} {cust['last_name']}"),
    ("customer__company_name__icontains (unselective)", f"customer__company_name__icontains={cust['company_name'][:5]}"),
    ("customer__id", f"customer__id={cust['id']}"),
    ("devices__hostname", f"devices__hostname={dev['hostname']}"),
    ("devices__hostname__icontains", f"devices__hostname__icontains={dev['hostname']}"),
    ("devices__hardware_id", f"devices__hardware_id={dev['hardware_id']}"),
    ("devices__hardware_id__icontains", f"devices__hardware_id__icontains={dev['hardware_id'][:11]}"),
    ("product__short_code (unselective)", f"product__short_code={lic['product']['short_code']}"),
    ("license_template__id (unselective)", f"license_template__id={lic['license_template']}"),
    ("created_at__date__gte (unselective)", f"created_at__date__gte={created}"),
    ("created_at__date (one day)", f"created_at__date__gte={created}&created_at__date__lte={created}"),
    ("enabled=false (2%)", "enabled=false"),
    ("active=true (unselective)", "active=true"),
    ("order_by=-created_at", "order_by=-created_at"),
    ("order_by=-created_at offset 1000", "order_by=-created_at&offset=1000"),
    ("order_by=-created_at offset 10000", "order_by=-created_at&offset=10000"),
    ("no filter, offset 10000", "offset=10000"),
]

print("| filter | p50 ms | p95 ms | count |")
print("| --- | ---: | ---: | ---: |")
for name, q in queries:
    path = "/api/v1/licenses/?" + urllib.parse.urlencode(urllib.parse.parse_qsl(q, keep_blank_values=True))
    times = []
    count = None
    for _ in range(runs):
        body, ms = get(path)
        times.append(ms)
        count = body["count"]
    times.sort()
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    print(f"| `{name}` | {statistics.median(times):.1f} | {p95:.1f} | {count} |")
print(f"\n{total} licenses, {runs} requests per filter, one at a time, limit 20.")
