# The report (`snakemake --report report.html`, README "The report"): rule verdicts gathers the
# claims table of every configured experiment into one verdict table (csv) and its page (html).
# Both are report items; workflow/report/workflow.rst, the report's landing page, embeds the page.


# A few milliseconds of pandas: on a cluster it runs on the submitting machine, not as a job.
localrules:
    verdicts,


rule verdicts:
    input:
        [results(f"{e}/tables/claims.csv") for e in config["experiments"]],
    output:
        csv=report(
            results("verdicts.csv"),
            caption="../report/verdicts_csv.rst",
            category="Verdicts",
        ),
        html=report(
            results("verdicts.html"),
            caption="../report/verdicts_html.rst",
            category="Verdicts",
        ),
    log:
        results("logs/verdicts.log"),
    threads: 1
    resources:
        mem_mb=1000,
    params:
        experiments=list(config["experiments"]),
        code=code_version(["verdicts"]),
    script:
        "../scripts/verdicts.py"
