# The report (`snakemake --report report.html`, README "The report"): rule verdicts gathers the
# claims table of every configured experiment into one verdict table (csv) and its page (html),
# one section per paper. Both are report items; workflow/report/workflow.rst, the report's
# landing page, embeds the page.


# A few milliseconds of pandas: on a cluster it runs on the submitting machine, not as a job.
localrules:
    verdicts,


rule verdicts:
    input:
        [results(f"{e}/tables") for e in EXPERIMENTS],
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
    conda:
        "../envs/attnlimits.yaml"
    threads: 1
    resources:
        mem_mb=1000,
    params:
        experiments=list(EXPERIMENTS),
        code=code_version(["attnlimits.verdicts"]),
        claims=[e.claims for e in EXPERIMENTS.values()],
    script:
        "../scripts/verdicts.py"
