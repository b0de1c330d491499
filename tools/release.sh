#!/usr/bin/env bash
# The release run of the shipped `standard` results (issue 15): every chapter's grid at the
# faithful protocol, trained from a clean checkout so that every row is traceable to one commit.
#
#   tools/release.sh COMMIT STORE DATASET:GRID[:PROTOCOL] [DATASET:GRID[:PROTOCOL] ...]
#
# GRID is a chapter that trains (model_size, training_time, sample_size, label_noise,
# regularization, phase_chart) or `controls` (the untrained-network and SimHash controls of the
# model-size grid). PROTOCOL runs another MLP protocol's grid than the data set's own, shipped
# apart: `fashion-mnist:model_size:cifar-mlp` is the depth-5 model-size grid on Fashion-MNIST
# (model_size.cifar-mlp.csv), the stand-in for the paper's CIFAR-10 MLPs. The grids run one after another in this process, on one thread; run two
# instances at once (one per core) with grids that share no runs, e.g.
#
#   tools/release.sh HEAD ~/release mnist:model_size mnist:regularization mnist:controls &
#   tools/release.sh HEAD ~/release mnist:training_time mnist:sample_size mnist:label_noise \
#       mnist:phase_chart &
#
# (regularization includes a model-size run, label noise a sample-size run, and the phase chart
# the training-time and sample-size grids at more widths: each stays in its lane.)
#
# `mnist:deviations:a` and `mnist:deviations:b` are the two lanes of the differential runs
# (python -m hashlib_nn.deviations; about 12 and 22 minutes): each writes STORE/deviations-LANE.csv
# and, once both lanes are done, the two replace results/twin/ours.csv (`deviations ship`),
# committed like a grid. Run them beside each other or beside the grids above.
#
# - COMMIT is checked out in a separate worktree (/tmp/hashlib_nn-release-<commit>) and the runs
#   train there, so that edits to this checkout meanwhile can make no run dirty;
# - STORE is the results store, shared by the instances (it resumes: run the script again
#   after an interruption and only the missing runs train);
# - each grid's wall time is appended to STORE/release-times.tsv;
# - after each grid, everything the store holds is shipped into THIS checkout's
#   src/hashlib_nn/results/standard (python -m hashlib_nn.shipped, which refuses dirty runs;
#   the controls with python -m hashlib_nn.controls --ship), the wall times are recorded in its
#   PROVENANCE.json, and the folder is committed (that folder only), so finished grids survive
#   a session that ends;
# - WORKERS=N (environment) trains one grid on N single-thread local Dask workers
#   (`hashlib-nn run --workers N`) instead of in this process: for a grid too long for one
#   core, run alone. The store, the keys and the numbers are the same.
set -euo pipefail

usage="usage: tools/release.sh COMMIT STORE DATASET:GRID[:PROTOCOL] ..."
commit=$(git rev-parse --verify "${1:?$usage}^{commit}")
store=$(realpath -m "${2:?$usage}")
shift 2
[ $# -gt 0 ] || { echo "$usage" >&2; exit 2; }
here=$(git rev-parse --show-toplevel)
python=${PYTHON:-$here/.venv/bin/python}
tree=/tmp/hashlib_nn-release-${commit:0:12}
out=$here/src/hashlib_nn/results
note="release run of ${commit:0:12} (tools/release.sh): single-thread processes, 2 at once"

mkdir -p "$store"
exec 9>"$store/.release.lock"  # one instance at a time creates the worktree, ships and commits
flock 9
[ -d "$tree" ] || git worktree add --detach "$tree" "$commit"
flock -u 9
test -z "$(git -C "$tree" status --porcelain --untracked-files=no)" || {
    echo "$tree has uncommitted changes" >&2; exit 1; }
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HASHLIB_NN_PROGRESS=0
export PYTHONPATH="$tree/src"
cd "$tree"

for g in "$@"; do
    IFS=: read -r ds grid protocol <<<"$g"
    start=$(date +%s)
    if [ "$grid" = controls ]; then
        "$python" -m hashlib_nn.controls --preset standard --dataset "$ds" --store "$store"
    elif [ "$grid" = deviations ]; then
        [ "$ds" = mnist ] || { echo "the differential runs are MNIST's; got $ds" >&2; exit 2; }
        dev=("$python" -m hashlib_nn.deviations run --store "$store"
             --csv "$store/deviations-$protocol.csv")
        tt=(--experiments training_time --suites rr net knn --sklearn-knn none)
        case "$protocol" in
        a)
            "${dev[@]}" --variants default --experiments sample_size
            "${dev[@]}" --variants default "${tt[@]}"
            "${dev[@]}" --variants default --experiments model_size --seeds-w20 10
            "${dev[@]}" --variants keras_adam --experiments model_size --seeds-w20 3 ;;
        b)
            "${dev[@]}" --variants keras_loss bn_biased float64 keras_adam --experiments sample_size
            "${dev[@]}" --variants keras_loss bn_biased float64 keras_adam "${tt[@]}"
            "${dev[@]}" --variants keras_loss --experiments model_size --seeds-w20 10
            "${dev[@]}" --variants bn_biased float64 --experiments model_size --seeds-w20 3 ;;
        *) echo "deviations lane must be a or b; got '$protocol'" >&2; exit 2 ;;
        esac
        touch "$store/deviations-$protocol.done"
    else
        "$python" -m hashlib_nn.cli run --preset standard --chapter "$grid" --dataset "$ds" \
            ${protocol:+--protocol "$protocol"} ${WORKERS:+--workers "$WORKERS"} --store "$store" \
            --no-progress
    fi
    end=$(date +%s)
    flock 9
    printf '%s\t%s\t%s\t%s\t%s\n' "$ds" "$grid${protocol:+:$protocol}" "$(date -u -d @"$start" +%FT%TZ)" \
        "$((end - start))" "${commit:0:12}" >>"$store/release-times.tsv"
    # shipping computes nothing: it runs this checkout's code (its newest columns), while the
    # rows keep the commit and fingerprint of the code that trained them
    if [ "$grid" = deviations ]; then
        if [ -e "$store/deviations-a.done" ] && [ -e "$store/deviations-b.done" ]; then
            PYTHONPATH="$here/src" "$python" -m hashlib_nn.deviations ship \
                --from "$store/deviations-a.csv" "$store/deviations-b.csv" \
                --csv "$out/twin/ours.csv" --note "$note; OMP_NUM_THREADS=1 (tools/release.sh \
lanes mnist:deviations:a and :b)"
            (cd "$here" && git add src/hashlib_nn/results/twin &&
                git commit -q -m "Shipped differential runs (results/twin/ours.csv), from the release \
run of ${commit:0:12}" -- src/hashlib_nn/results/twin) || true
        fi
        flock -u 9
        continue
    fi
    if [ "$grid" = controls ]; then
        PYTHONPATH="$here/src" "$python" -m hashlib_nn.controls --preset standard --dataset "$ds" \
            --store "$store" --ship --out-dir "$out"
    fi
    PYTHONPATH="$here/src" "$python" -m hashlib_nn.shipped --store "$store" --preset standard \
        --out-dir "$out" ${protocol:+--protocol "$protocol"} --note "$note" \
        --wall-times "$store/release-times.tsv"
    (cd "$here" && git add src/hashlib_nn/results/standard &&
        git commit -q -m "Shipped standard results: $ds $grid${protocol:+ ($protocol)}, from the release run of \
${commit:0:12} ($((end - start)) s wall, one thread)" -- src/hashlib_nn/results/standard) || true
    flock -u 9
done
