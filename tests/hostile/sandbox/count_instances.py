# task: sat/queens-8
# kind: detect
# what: the audit's trick: the real instance is the one that runs alone in its job file
import json

with open("job.json") as handle:
    job = json.load(handle)
LIE = len(job.get("instances", [None])) == 1
