# task: sat/pigeonhole-5-5
# kind: escape
# what: leaves a file in a directory anyone may write (the host's /tmp, say)
with open(@STAGE@ + "/dropped.txt", "w") as dropped:
    dropped.write("was here")
