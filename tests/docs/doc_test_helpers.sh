# Functions for the set-up comments of the docs (`<!-- doc-test: ... -->`), sourced before every
# command that tests/docs/run_doc_commands.py runs.

# start_job ARGS...: runs `udmg-server ARGS... --metrics-listen 127.0.0.1:0` in the background and
# exports DOC_JOB_URL (http://127.0.0.1:PORT) and DOC_JOB_PID once its job answers.
start_job() {
  local log="$DOC_DIR/job-$$.log"
  udmg-server "$@" --metrics-listen 127.0.0.1:0 </dev/null >"$log" 2>&1 &
  DOC_JOB_PID=$!
  local url="" waited=0
  while [[ -z "$url" ]]; do
    url=$(sed -n 's|^metrics: listening on \(http://[0-9.:]*\)/metrics$|\1|p' "$log")
    if ! kill -0 "$DOC_JOB_PID" 2>/dev/null; then
      echo "start_job: udmg-server $* ended before it listened:" >&2; cat "$log" >&2; return 1
    fi
    sleep 0.05; waited=$((waited + 1))
    if ((waited > 1200)); then echo "start_job: no listener after 60 s" >&2; return 1; fi
  done
  # The listener comes up before the job has started (it answers 503 until then): wait for the
  # job itself, so that the doc's first request finds it running.
  until curl -sf "$url/control/status" >/dev/null; do
    if ! kill -0 "$DOC_JOB_PID" 2>/dev/null; then
      echo "start_job: udmg-server $* ended before its job answered:" >&2; cat "$log" >&2; return 1
    fi
    sleep 0.05; waited=$((waited + 1))
    if ((waited > 1200)); then echo "start_job: the job did not answer in 60 s" >&2; return 1; fi
  done
  DOC_JOB_URL=$url
  export DOC_JOB_URL DOC_JOB_PID
}

# stop_job: SIGTERM to the job start_job started, and waits for it to end.
stop_job() {
  [[ -n "${DOC_JOB_PID:-}" ]] || return 0
  kill -TERM "$DOC_JOB_PID" 2>/dev/null || true
  # Not kill -0: an exited job this shell did not start stays a zombie until its new parent reaps it.
  while [[ -e /proc/$DOC_JOB_PID ]] && [[ $(cut -d' ' -f3 "/proc/$DOC_JOB_PID/stat" 2>/dev/null) != Z ]]; do
    sleep 0.05
  done
  unset DOC_JOB_PID DOC_JOB_URL
}
