"""Answer quality from a QA file: load it, run storybot and the baseline, judge, report."""
