# Sourced by the evidence scripts: run a command and record, in a RUN.txt, what produced a result.
# usage: record_run RUN.txt LOG command args...   (the command's output goes to LOG)
# RUN.txt gets the command, thread/nice settings, start and end (UTC), versions, the git state,
# wall seconds, CPU seconds and peak memory (GNU time).
record_run() {
  local record=$1 log=$2; shift 2
  {
    echo "command: $*"
    echo "env: OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset} nice=$(nice)"
    echo "date_start_utc: $(date -u +%FT%TZ)"
    python -c "import lm_eval, torch, transformers, datasets; print('versions: lm_eval', lm_eval.__version__, '| torch', torch.__version__, '| transformers', transformers.__version__, '| datasets', datasets.__version__)"
    echo "git: $(git rev-parse --short HEAD 2>/dev/null || echo 'no commit yet') (uncommitted changes in $(git status --porcelain -- hneuron_eval tasks 2>/dev/null | wc -l) files of hneuron_eval/ and tasks/)"
  } > "$record"
  local start end
  start=$(date +%s)
  /usr/bin/time -a -o "$record" -f "cpu_user_seconds: %U\ncpu_system_seconds: %S\nmax_rss_kb: %M" "$@" > "$log" 2>&1
  end=$(date +%s)
  echo "date_end_utc: $(date -u +%FT%TZ)" >> "$record"
  echo "wall_seconds: $((end - start))" >> "$record"
}
