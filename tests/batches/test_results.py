"""batches.results, a job's rows written back out as CSV: no cell runs as a formula in a spreadsheet."""

from batches.results import results_csv
from tests.batches.factories import make_job


def test_the_results_file_neutralises_formulas(world):
    job = make_job('imei,ordernumber\n=HYPERLINK("http://x"),@SUM(1)\n', customer=world["customer"])

    text = "".join(results_csv(job))

    assert text.startswith("\ufeffimei,ordernumber,row,result")
    assert "'=HYPERLINK" in text and "'@SUM(1)" in text
    assert "\n=" not in text and ",=" not in text and ",@" not in text
