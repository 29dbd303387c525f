"""IT training for full-time union officers (đào tạo, bồi dưỡng tin học) and the
``officers_trained`` plan target.

Modules: ``models`` (courses, curriculum rules, classes, sessions, enrolments, attendance,
results, certificates), ``service`` (the only writer, audited), ``status`` (the set-based tally
behind the indicator, gaps and reports), ``indicators`` (``OfficersTrained``, published through
the ``tldops.indicators`` entry point), ``planning`` (gaps, expiring certificates, the class
plan), ``transfer`` (result-sheet import), ``catalogue`` (the standard curriculum as data),
``reports`` (XLSX/PDF in Vietnamese), ``moodle`` (completion sync), ``jobs`` (expiry notices),
``cli`` (``tldops training``) and ``api`` (``/api/training``).
"""
