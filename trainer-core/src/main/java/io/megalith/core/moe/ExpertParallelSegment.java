package io.megalith.core.moe;

import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.comm.Communicator;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Parameter;
import io.megalith.core.segment.Segment;
import io.megalith.core.tensor.Ops;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.List;
import java.util.function.Function;

/**
 * The feed-forward half of an MoE block, x + moe(norm(x)), on one rank of an expert-parallel group that splits
 * the experts (rank q holds experts [q E/ep, (q+1) E/ep)). Tokens travel to the ranks holding their experts and
 * back, so the segment runs three autograd regions with all-to-alls between them and its own backward:
 *
 * <pre>
 * forward:  A  (from the input leaf x) norm, router, routing, gates, tokens in expert order = destination order
 *           all_to_all counts (per expert), all_to_all tokens        (variable sizes; zero rows is fine)
 *           B  (from a leaf of the received tokens) this rank's experts, tokens grouped by expert then source
 *           all_to_all outputs back                                   (the reverse of the token exchange)
 *           C  (from leaves of the returned outputs and of the gates) combine, dropout, + x
 * backward: C's backward from d loss / d out                          (gives x its residual gradient)
 *           all_to_all output gradients to the experts' ranks, B's backward (expert parameter gradients)
 *           all_to_all token gradients back, A's backward of sum(tokens * g_tokens) + sum(gates * g_gates) + aux
 *           in one pass (the vector-Jacobian product of all of A's outputs), which completes x's gradient
 * </pre>
 *
 * Routing, capacity and the auxiliary losses are computed by the token's own rank exactly as without expert
 * parallelism, so the result is the one-rank model's.
 */
public final class ExpertParallelSegment implements Segment.Custom {
    private final String name;
    private final List<Parameter> parameters;
    private final Function<PtNDArray, PtNDArray> norm;
    private final MoeMlp moe;
    private final Communicator ep;
    private Pending pending;

    /** What forward leaves for backward. */
    private static final class Pending {
        PtNDArray input; // A's leaf (the segment input)
        PtNDArray output;
        MoeMlp.Dispatch dispatch;
        PtNDArray auxLoss;
        int[][] sentRows; // [dest][local expert of dest]: rows sent
        int[][] receivedRows; // [source][local expert]: rows received
        PtNDArray received; // B's leaf [R, C], grouped by local expert, then source
        PtNDArray expertOut; // B's output
        PtNDArray returned; // C's leaf [S, C]
        PtNDArray gate; // C's leaf [N, k]
    }

    public ExpertParallelSegment(String name, List<Parameter> parameters, Function<PtNDArray, PtNDArray> norm, MoeMlp moe,
            Communicator ep) {
        this.name = name;
        this.parameters = parameters;
        this.norm = norm;
        this.moe = moe;
        this.ep = ep;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public List<Parameter> parameters() {
        return parameters;
    }

    @Override
    public PtNDArray forward(PtNDArray input, ForwardContext ctx) {
        if (pending != null) {
            throw new IllegalStateException(name + ": a forward is already pending (one micro-batch at a time)");
        }
        Pending p = new Pending();
        int n = ep.size();
        int local = moe.localExperts();
        long width = input.getShape().get(2);
        JniUtils.setGradMode(true);
        try {
            p.input = input;
            p.dispatch = moe.dispatch(norm.apply(input), ctx);
            p.auxLoss = p.dispatch.auxLoss();
        } finally {
            JniUtils.setGradMode(false);
        }
        int[] offset = p.dispatch.offset();
        p.sentRows = new int[n][local];
        for (int q = 0; q < n; q++) {
            for (int l = 0; l < local; l++) {
                int e = q * local + l;
                p.sentRows[q][l] = offset[e + 1] - offset[e];
            }
        }
        p.receivedRows = exchangeCounts(p.sentRows);
        // tokens to the experts' ranks, grouped there by local expert, then source
        float[] tokens = p.dispatch.tokens().toFloatArray();
        ByteBuffer[] fromSources = ep.allToAll(split(tokens, p.sentRows, width));
        p.received = leaf(Ops.floats(ctx.manager(), groupByExpert(fromSources, p.receivedRows, width),
                rows(p.receivedRows), width));
        JniUtils.setGradMode(true);
        try {
            PtNDArray[] outs = new PtNDArray[local];
            int at = 0;
            for (int l = 0; l < local; l++) {
                int count = 0;
                for (int[] r : p.receivedRows) {
                    count += r[l];
                }
                outs[l] = moe.runLocalExpert(l, Ops.slice(p.received, 0, at, at + count));
                at += count;
            }
            p.expertOut = local == 1 ? outs[0] : Ops.cat(outs, 0);
        } finally {
            JniUtils.setGradMode(false);
        }
        // outputs back to the tokens' ranks, in the order the tokens left
        float[] out = p.expertOut.toFloatArray();
        ByteBuffer[] back = ep.allToAll(splitBySource(out, p.receivedRows, width));
        p.returned = leaf(Ops.floats(ctx.manager(), concat(back), rows(p.sentRows), width));
        p.gate = leaf(JniUtils.clone(JniUtils.detachGradient(p.dispatch.gate())));
        JniUtils.setGradMode(true);
        try {
            p.output = Ops.add(input, moe.combine(p.dispatch, p.returned, p.gate, ctx));
        } finally {
            JniUtils.setGradMode(false);
        }
        pending = p;
        return p.output;
    }

    @Override
    public void discard() {
        pending = null;
    }

    @Override
    public void backward(PtNDArray upstream, ForwardContext ctx) {
        Pending p = pending;
        pending = null;
        if (p == null) {
            throw new IllegalStateException(name + ": backward without a forward");
        }
        long width = p.input.getShape().get(2);
        JniUtils.backward(p.output, upstream, false, false); // C: the residual's gradient lands on the input leaf
        PtNDArray gReturned = JniUtils.getGradient(p.returned);
        PtNDArray gGate = JniUtils.getGradient(p.gate);
        // output gradients to the experts' ranks (the reverse of the way back)
        ByteBuffer[] toExperts = ep.allToAll(split(gReturned.toFloatArray(), p.sentRows, width));
        PtNDArray gExpertOut = Ops.floats(ctx.manager(), groupByExpert(toExperts, p.receivedRows, width),
                rows(p.receivedRows), width);
        JniUtils.backward(p.expertOut, gExpertOut, false, false); // B: expert parameter gradients
        PtNDArray gReceived = JniUtils.getGradient(p.received);
        ByteBuffer[] toTokens = ep.allToAll(splitBySource(gReceived.toFloatArray(), p.receivedRows, width));
        PtNDArray gTokens = Ops.floats(ctx.manager(), concat(toTokens), rows(p.sentRows), width);
        JniUtils.setGradMode(true);
        PtNDArray total;
        try {
            total = Ops.add(Ops.sum(Ops.mul(p.dispatch.tokens(), gTokens)), Ops.sum(Ops.mul(p.dispatch.gate(), gGate)));
            if (p.auxLoss != null) {
                total = Ops.add(total, p.auxLoss);
            }
        } finally {
            JniUtils.setGradMode(false);
        }
        JniUtils.backward(total, Ops.scalar(ctx.manager(), 1f), false, false); // A: completes the input's gradient
    }

    /** Every rank tells every other how many rows it sends to each of its experts: [source][local expert]. */
    private int[][] exchangeCounts(int[][] sent) {
        int n = ep.size();
        ByteBuffer[] send = new ByteBuffer[n];
        for (int q = 0; q < n; q++) {
            ByteBuffer b = ByteBuffer.allocate(4 * sent[q].length).order(ByteOrder.LITTLE_ENDIAN);
            for (int c : sent[q]) {
                b.putInt(c);
            }
            send[q] = b.flip();
        }
        ByteBuffer[] got = ep.allToAll(send);
        int[][] received = new int[n][sent[0].length];
        for (int s = 0; s < n; s++) {
            ByteBuffer b = got[s].duplicate().order(ByteOrder.LITTLE_ENDIAN);
            for (int l = 0; l < received[s].length; l++) {
                received[s][l] = b.getInt();
            }
        }
        return received;
    }

    /** Rows [sum of counts, C] of {@code data} cut into one contiguous part per peer (counts[peer] summed). */
    private static ByteBuffer[] split(float[] data, int[][] counts, long width) {
        ByteBuffer[] out = new ByteBuffer[counts.length];
        int at = 0;
        for (int q = 0; q < counts.length; q++) {
            int len = 0;
            for (int c : counts[q]) {
                len += c * (int) width;
            }
            out[q] = floatsBuffer(data, at, len);
            at += len;
        }
        return out;
    }

    /** Rows grouped by local expert then source, cut into one part per source (its experts' rows in order). */
    private static ByteBuffer[] splitBySource(float[] data, int[][] counts, long width) {
        int n = counts.length;
        int local = counts[0].length;
        int w = (int) width;
        float[][] parts = new float[n][];
        int[] fill = new int[n];
        for (int s = 0; s < n; s++) {
            int len = 0;
            for (int c : counts[s]) {
                len += c * w;
            }
            parts[s] = new float[len];
        }
        int at = 0;
        for (int l = 0; l < local; l++) {
            for (int s = 0; s < n; s++) {
                int len = counts[s][l] * w;
                System.arraycopy(data, at, parts[s], fill[s], len);
                fill[s] += len;
                at += len;
            }
        }
        ByteBuffer[] out = new ByteBuffer[n];
        for (int s = 0; s < n; s++) {
            out[s] = floatsBuffer(parts[s], 0, parts[s].length);
        }
        return out;
    }

    /** The inverse of {@link #splitBySource}: parts from each source, regrouped by local expert then source. */
    private static float[] groupByExpert(ByteBuffer[] parts, int[][] counts, long width) {
        int n = counts.length;
        int local = counts[0].length;
        int w = (int) width;
        FloatBuffer[] in = new FloatBuffer[n];
        int total = 0;
        for (int s = 0; s < n; s++) {
            in[s] = parts[s].duplicate().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
            total += in[s].remaining();
        }
        float[] out = new float[total];
        int at = 0;
        for (int l = 0; l < local; l++) {
            for (int s = 0; s < n; s++) {
                int len = counts[s][l] * w;
                in[s].get(out, at, len);
                at += len;
            }
        }
        return out;
    }

    private static float[] concat(ByteBuffer[] parts) {
        int total = 0;
        for (ByteBuffer b : parts) {
            total += b.remaining() / 4;
        }
        float[] out = new float[total];
        int at = 0;
        for (ByteBuffer b : parts) {
            FloatBuffer f = b.duplicate().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
            int len = f.remaining();
            f.get(out, at, len);
            at += len;
        }
        return out;
    }

    private static int rows(int[][] counts) {
        int r = 0;
        for (int[] c : counts) {
            for (int v : c) {
                r += v;
            }
        }
        return r;
    }

    private static ByteBuffer floatsBuffer(float[] data, int from, int len) {
        ByteBuffer b = ByteBuffer.allocate(4 * len).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(data, from, len);
        return b;
    }

    /** A new leaf sharing x's memory, whose gradient the next backward fills. */
    private static PtNDArray leaf(PtNDArray x) {
        PtNDArray d = JniUtils.detachGradient(x);
        JniUtils.attachGradient(d, true);
        return d;
    }
}
