package io.megalith.core.zero;

import io.megalith.comm.Communicator;
import io.megalith.comm.DirectBuffers;
import io.megalith.comm.ElementType;
import io.megalith.comm.ReduceOp;
import io.megalith.comm.Scalars;
import io.megalith.core.nn.Parameter;
import io.megalith.core.optim.AdamW;
import io.megalith.core.segment.Segment;
import io.megalith.core.segment.SegmentedPass;
import io.megalith.core.tensor.HostCopies;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.ScratchBuffer;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

/**
 * ZeRO stages 2 and 3 over {@link PartitionedParameters}: each rank keeps only its pieces of the
 * gradients (and with stage 3 of the parameters) and the AdamW state for them.
 *
 * <p>Per micro-batch, when backward completes a group's gradients, the group is reduce-scattered into the
 * rank's gradient pieces (accumulated over micro-batches, as DeepSpeed does for these stages) and
 * libtorch's gradient tensors are freed (views renewed). Stage 3 also gathers a layer's parameters just
 * before its forward, releases them after, and gathers them again for its backward, which therefore
 * recomputes the layer's forward (no graph may keep released parameters alive). After the update, stage 2
 * all-gathers the new values into its full parameters; stage 3 has nothing to gather until next use.
 *
 * <p>Frozen parameters are outside the partitioned groups (see {@link PartitionedParameters}): no reduce-scatter,
 * no gradient piece, no AdamW state; the norm covers the trainable pieces only.
 */
public final class PartitionedOptimizer implements AutoCloseable {
    private final PartitionedParameters params;
    private final Communicator dp;
    private final int stage;
    private final int[] readySegment; // per group
    private final int[] readers; // per group: how many segments read it
    private final List<Set<Integer>> groupsOfSegment; // groups each segment reads
    private final ByteBuffer grads; // this rank's gradient pieces, summed over micro-batches
    private final ByteBuffer[] pending; // stage 3: gradients of a group read by several segments, until reduced
    private final ScratchBuffer staged = new ScratchBuffer(); // one group's full gradient, for its reduce-scatter
    private final ScratchBuffer reduced = new ScratchBuffer(); // one group's reduce-scattered piece
    private final AdamW adam;
    private long commNanos;
    private long lastCommNanos;

    /** Time the last step spent communicating (gathers, reduce-scatters, the norm), in nanoseconds. */
    public long commNanos() {
        return lastCommNanos;
    }

    public PartitionedOptimizer(PartitionedParameters params, List<Segment> plan, Communicator dp, int stage,
            double beta1, double beta2, double eps, double weightDecay) {
        if (stage != 2 && stage != 3) {
            throw new IllegalArgumentException("ZeRO stage " + stage + " is not partitioned here");
        }
        this.params = params;
        this.dp = dp;
        this.stage = stage;
        Map<Parameter, Integer> ready = GradientBuckets.readySegments(plan);
        Map<Parameter, Integer> groupOf = new IdentityHashMap<>();
        int n = params.groups().size();
        readySegment = new int[n];
        for (PartitionedParameters.Group g : params.groups()) {
            int r = Integer.MAX_VALUE;
            for (Parameter p : g.params()) {
                groupOf.put(p, g.index());
                r = Math.min(r, ready.getOrDefault(p, 0));
            }
            readySegment[g.index()] = r;
        }
        readers = new int[n];
        groupsOfSegment = new ArrayList<>();
        for (Segment s : plan) {
            Set<Integer> gs = new LinkedHashSet<>();
            for (Parameter p : s.parameters()) {
                Integer g = groupOf.get(p);
                if (g != null) { // frozen parameters are in no group: replicated, nothing to gather or reduce
                    gs.add(g);
                }
            }
            gs.forEach(g -> readers[g]++);
            groupsOfSegment.add(gs);
        }
        this.grads = DirectBuffers.floats(params.shardSize());
        this.pending = new ByteBuffer[n];
        this.adam = new AdamW(params.shardSize(), params.shardDecayRanges(), beta1, beta2, eps, weightDecay);
        if (stage == 2) {
            params.keepResident();
        }
    }

    public int stage() {
        return stage;
    }

    public AdamW optimizer() {
        return adam;
    }

    public PartitionedParameters parameters() {
        return params;
    }

    /** Stage 3 recomputes every segment in backward; stage 2 keeps graphs (or whatever the run asked for). */
    public SegmentedPass.Recompute recompute(SegmentedPass.Recompute asked) {
        return stage == 3 ? SegmentedPass.Recompute.ALL : asked;
    }

    /** What happens between segments, for every micro-batch. */
    public SegmentedPass.Hooks hooks() {
        return stage == 3 ? new Stage3Hooks() : new SegmentedPass.Hooks() {
            @Override
            public void afterBackward(int segment) {
                for (PartitionedParameters.Group group : params.groups()) {
                    if (readySegment[group.index()] == segment) {
                        ByteBuffer full = staged.floats(group.size());
                        params.gradients(group.index(), full.asFloatBuffer(), false);
                        params.renewViews(group.index()); // frees libtorch's gradient tensors of the group
                        reduceScatter(group.index(), full);
                    }
                }
            }
        };
    }

    /**
     * ZeRO-3: a segment's groups are gathered before its forward and released after it; the next segment's groups
     * (forward: i+1, backward: i-1) are prefetched meanwhile, so their all-gather overlaps this segment's compute.
     * The last segment stays gathered from its forward into its backward, which comes right after. After a
     * segment's backward its share of each group's gradient is collected and the group released; a group is
     * reduce-scattered once the last segment reading it (in backward order) is done.
     */
    private final class Stage3Hooks implements SegmentedPass.Hooks {
        private final int last = groupsOfSegment.size() - 1;

        @Override
        public void beforeForward(int segment, boolean recomputing) {
            long t0 = System.nanoTime();
            groupsOfSegment.get(segment).forEach(params::materialise);
            int next = recomputing ? segment - 1 : segment + 1;
            if (next >= 0 && next <= last) {
                groupsOfSegment.get(next).forEach(params::prefetch);
            }
            commNanos += System.nanoTime() - t0;
        }

        @Override
        public void afterForward(int segment, boolean recomputing) {
            if (recomputing || segment == last) {
                return; // backward needs them now
            }
            Set<Integer> next = groupsOfSegment.get(segment + 1);
            for (int g : groupsOfSegment.get(segment)) {
                if (!next.contains(g)) {
                    params.release(g);
                }
            }
        }

        @Override
        public void afterBackward(int segment) {
            Set<Integer> previous = segment > 0 ? groupsOfSegment.get(segment - 1) : Set.of();
            for (int g : groupsOfSegment.get(segment)) {
                long size = params.groups().get(g).size();
                if (readers[g] == 1) { // the usual case: complete now, staged in the reused buffer
                    ByteBuffer full = staged.floats(size);
                    params.gradients(g, full.asFloatBuffer(), false);
                    releaseUnlessNeeded(g, previous);
                    reduceScatter(g, full);
                    continue;
                }
                boolean first = pending[g] == null;
                if (first) {
                    pending[g] = DirectBuffers.floats(size);
                }
                params.gradients(g, pending[g].asFloatBuffer(), !first); // this segment's share of the gradient
                releaseUnlessNeeded(g, previous);
                if (readySegment[g] == segment) {
                    reduceScatter(g, pending[g]);
                    DirectBuffers.free(pending[g]);
                    pending[g] = null;
                }
            }
        }

        private void releaseUnlessNeeded(int g, Set<Integer> previous) {
            if (previous.contains(g)) {
                params.renewViews(g); // read again by the segment backward runs next: keep it, free the gradients
            } else {
                params.release(g);
            }
        }
    }

    /** Sums the group's full gradients over the group and adds this rank's piece into the accumulated pieces. */
    private void reduceScatter(int g, ByteBuffer in) {
        long t0 = System.nanoTime();
        try {
            reduceScatterTimed(g, in);
        } finally {
            commNanos += System.nanoTime() - t0;
        }
    }

    private void reduceScatterTimed(int g, ByteBuffer in) {
        int len = (int) (params.pieceTo(g) - params.pieceFrom(g));
        ByteBuffer out = reduced.floats(len);
        params.communicator(g).reduceScatter(in, out, ElementType.F32, ReduceOp.SUM);
        FloatBuffer acc = grads.asFloatBuffer();
        FloatBuffer add = out.asFloatBuffer();
        int at = params.shardOffset(g);
        for (int i = 0; i < len; i++) {
            acc.put(at + i, acc.get(at + i) + add.get(i));
        }
    }

    /** The update of the step: global norm and clipping, AdamW on this rank's pieces, re-gathering (stage 2). */
    public double step(double lr, double gradClip) {
        long t0 = System.nanoTime();
        double norm = globalNorm();
        commNanos += System.nanoTime() - t0;
        double clip = gradClip > 0 ? Math.min(1.0, gradClip / (norm + 1e-6)) : 1.0;
        adam.beginStep();
        for (PartitionedParameters.Group g : params.groups()) {
            int at = params.shardOffset(g.index());
            int len = (int) (params.pieceTo(g.index()) - params.pieceFrom(g.index()));
            if (len > 0) {
                FloatBuffer gradPiece = grads.asFloatBuffer().position(at).limit(at + len).slice();
                adam.update(params.piece(g.index()), gradPiece, at, lr, clip);
            }
        }
        grads.clear();
        while (grads.remaining() >= Long.BYTES) {
            grads.putLong(0L);
        }
        while (grads.hasRemaining()) { // a shard of an odd number of floats
            grads.put((byte) 0);
        }
        grads.clear();
        if (stage == 2) {
            long t1 = System.nanoTime();
            params.allGatherMaterialised();
            commNanos += System.nanoTime() - t1;
        }
        lastCommNanos = commNanos;
        commNanos = 0;
        return norm;
    }

    /**
     * Each rank's pieces partition the gradient: shared groups over dp, expert groups over edp within each
     * expert-parallel rank (whose experts are disjoint), so the sum over dp of the pieces' squares is the
     * squared norm of the whole model's gradient, with or without expert parallelism.
     */
    private double globalNorm() {
        double local = AdamW.l2Norm(grads.asFloatBuffer());
        return Math.sqrt(Scalars.sumInRankOrder(local * local, dp));
    }

    /** Full AdamW state by name (a collective). */
    public Map<String, HostTensor> gatherState() {
        try (HostCopies copies = new HostCopies()) {
            copyState(p -> true, copies);
            return copies.onHeap();
        }
    }

    /** Group {@code g} of the partitioned {@code state}, whole: gathered over its group into the reused staging buffer. */
    private FloatBuffer gatherGroup(FloatBuffer state, PartitionedParameters.Group g) {
        int len = (int) (params.pieceTo(g.index()) - params.pieceFrom(g.index()));
        ByteBuffer mine = reduced.floats(len);
        mine.asFloatBuffer().put(state.slice(params.shardOffset(g.index()), len));
        ByteBuffer all = staged.floats(g.size());
        params.communicator(g.index()).allGather(mine, all, ElementType.F32);
        return all.asFloatBuffer();
    }

    /**
     * Copies the AdamW moments of the parameters {@code which} selects into {@code out}, whole (a collective: every
     * rank of the group calls it, each with its own selection); see {@link #copyShardState}.
     */
    public void copyState(Predicate<Parameter> which, HostCopies out) {
        copyShardState("exp_avg.", adam.expAvg(), which, out);
        copyShardState("exp_avg_sq.", adam.expAvgSq(), which, out);
    }

    /**
     * Copies a state kept like the moments, one value per element of this rank's shard ({@code state}: shardSize
     * floats in shard order), as whole tensors {@code <prefix><param>} of the parameters {@code which} selects into
     * {@code out}: a collective over each group's communicator, every rank with its own selection. One group at a
     * time is gathered into the staging buffer the step already reuses, so a rank holds its selection and one group,
     * never the whole state.
     */
    public void copyShardState(String prefix, FloatBuffer state, Predicate<Parameter> which, HostCopies out) {
        checkShardShaped(prefix, state);
        for (PartitionedParameters.Group g : params.groups()) {
            FloatBuffer f = gatherGroup(state, g);
            for (Parameter p : g.params()) {
                if (which.test(p)) {
                    int at = (int) (p.offset() - g.from());
                    out.put(prefix + p.name(), p.shape(), f.duplicate().position(at).limit(at + (int) p.numel())
                            .slice());
                }
            }
        }
    }

    /** Restores this rank's pieces of the AdamW state from full named tensors, and the step count. */
    public void loadState(Map<String, HostTensor> tensors, long stepCount) {
        loadShardState(tensors, "exp_avg.", adam.expAvg());
        loadShardState(tensors, "exp_avg_sq.", adam.expAvgSq());
        adam.setStepCount(stepCount);
    }

    /**
     * Takes this rank's pieces of the whole tensors {@code <prefix><param>} into the shard-shaped {@code state} (the
     * inverse of {@link #copyShardState}; no communication).
     */
    public void loadShardState(Map<String, HostTensor> tensors, String prefix, FloatBuffer state) {
        checkShardShaped(prefix, state);
        for (PartitionedParameters.Group g : params.groups()) {
            for (Parameter p : g.params()) {
                HostTensor t = tensors.get(prefix + p.name());
                if (t == null) {
                    throw new IllegalArgumentException("missing optimizer tensor " + prefix + p.name());
                }
                long a = Math.max(p.offset(), params.pieceFrom(g.index()));
                long b = Math.min(p.offset() + p.numel(), params.pieceTo(g.index()));
                if (a < b) {
                    float[] all = t.toFloats();
                    state.put(params.shardOffset(g.index()) + (int) (a - params.pieceFrom(g.index())), all,
                            (int) (a - p.offset()), (int) (b - a));
                }
            }
        }
    }

    private void checkShardShaped(String prefix, FloatBuffer state) {
        if (state.capacity() != params.shardSize()) {
            throw new IllegalArgumentException("state " + prefix + " holds " + state.capacity() + " floats, the shard "
                    + params.shardSize());
        }
    }

    /**
     * Bytes this rank holds between steps: parameters, gradient pieces (libtorch's gradients were freed as each
     * group was reduced), AdamW state, and the reused staging buffers (one group's gradient, one piece).
     */
    public long[] memoryBytes() {
        long paramBytes = params.heldParameterElements() * 4;
        long gradBytes = grads.capacity();
        long optimizerBytes = 2L * 4 * params.shardSize();
        return new long[] {paramBytes, gradBytes, optimizerBytes, staged.capacity() + reduced.capacity()};
    }

    /**
     * Bytes of this optimizer's own buffers (not tensors): the shard (until resident), gradient pieces, AdamW
     * moments, staging buffers, gradients of multi-reader groups still pending.
     */
    public long hostBytes() {
        long pendingBytes = 0;
        for (ByteBuffer b : pending) {
            pendingBytes += b == null ? 0 : b.capacity();
        }
        return params.shardBytes() + grads.capacity() + 2L * 4 * adam.size() + staged.capacity()
                + reduced.capacity() + pendingBytes;
    }

    /** Stage 3: gathers every group (for evaluation, sampling); {@link #releaseAll} undoes it. */
    public void materialiseAll() {
        for (int g = 0; g < params.groups().size(); g++) {
            params.materialise(g);
        }
    }

    public void releaseAll() {
        if (stage == 3) {
            for (int g = 0; g < params.groups().size(); g++) {
                params.release(g);
            }
        }
    }

    @Override
    public void close() {
        params.close();
        adam.close();
        staged.close();
        reduced.close();
        for (int g = 0; g < pending.length; g++) {
            DirectBuffers.free(pending[g]);
            pending[g] = null;
        }
        DirectBuffers.free(grads);
    }
}
