# task: sat/schedule-8
# kind: escape
# what: reads the task file's `expected:` label
with open(@TASK@) as task:
    assert "expected:" in task.read()
