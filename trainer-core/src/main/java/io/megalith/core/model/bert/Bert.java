package io.megalith.core.model.bert;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.comm.Communicator;
import io.megalith.core.model.Targets;
import io.megalith.core.model.transformer.AttentionMask;
import io.megalith.core.model.transformer.TransformerLayer;
import io.megalith.core.nn.Embedding;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Init;
import io.megalith.core.nn.LayerNorm;
import io.megalith.core.nn.Linear;
import io.megalith.core.nn.Module;
import io.megalith.core.nn.Parameter;
import io.megalith.core.segment.Segment;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensorparallel.TpLayout;
import io.megalith.core.tensorparallel.VocabParallelCrossEntropy;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * BERT (Devlin et al.): token + learned position + segment embeddings, a stack of bidirectional transformer
 * layers whose attention ignores padding keys, and three heads:
 * <ul>
 *   <li>pooler: tanh(dense(h[CLS])), the sequence summary a classifier reads (position 0 holds [CLS]);
 *   <li>masked LM: gelu(dense(h)) -> LayerNorm -> logits through the word embedding (tied) + a vocab bias;
 *   <li>next-sentence prediction (optional): a 2-way linear over the pooled output.
 * </ul>
 * Post-LN by default (BERT's layout; {@link BertConfig#preLn()} switches). Parameter names:
 * {@code embeddings.{word,position,segment,ln}}, {@code layers.i.{ln1,attn.qkv,attn.proj,ln2,mlp.fc,mlp.proj}},
 * {@code [ln_f]}, {@code pooler.dense}, {@code mlm.{dense,ln,bias}}, {@code [nsp]}.
 */
public final class Bert extends Module {
    private final BertConfig cfg;
    private final Embedding word;
    private final Embedding position;
    private final Embedding segment;
    private final LayerNorm embLn;
    private final List<TransformerLayer> layers = new ArrayList<>();
    private final LayerNorm lnF;
    private final Linear pooler;
    private final Linear mlmDense;
    private final LayerNorm mlmLn;
    private final Parameter mlmBias;
    private final Linear nsp;
    private final TpLayout tp;
    private final Communicator tpGroup;

    public Bert(BertConfig cfg) {
        this(cfg, TpLayout.SINGLE, null);
    }

    /**
     * BERT on one rank of a tensor-parallel group {@code tpGroup} (Megatron's layout, as {@link
     * io.megalith.core.model.Gpt}): vocab-parallel word embedding, MLM vocabulary bias and MLM cross-entropy (the
     * tied head's logits of this rank's vocabulary slice only), column/row-parallel attention and feed-forward;
     * positions, segment types, norms, pooler, MLM transform and NSP replicated (their gradients partial sums).
     * Train it through {@link #segments}. With a group of one it is exactly the plain model.
     */
    public Bert(BertConfig cfg, TpLayout tp, Communicator tpGroup) {
        super("");
        this.cfg = cfg;
        this.tp = tp;
        this.tpGroup = tpGroup;
        boolean partial = tp.parallel();
        this.word = child(partial
                ? new Embedding("embeddings.word", cfg.vocabSize(), cfg.nEmbd(), 0.02, tp.part(cfg.vocabSize()))
                : new Embedding("embeddings.word", cfg.vocabSize(), cfg.nEmbd(), 0.02));
        this.position = child(new Embedding("embeddings.position", cfg.maxPositions(), cfg.nEmbd(), 0.02));
        this.segment = child(new Embedding("embeddings.segment", cfg.typeVocabSize(), cfg.nEmbd(), 0.02));
        this.embLn = child(new LayerNorm("embeddings.ln", cfg.nEmbd(), cfg.bias(), partial));
        for (int i = 0; i < cfg.nLayer(); i++) {
            layers.add(child(new TransformerLayer("layers." + i, cfg.layerSpec(), false, tp)));
        }
        this.lnF = cfg.preLn() ? child(new LayerNorm("ln_f", cfg.nEmbd(), cfg.bias(), partial)) : null;
        this.pooler = child(new Linear("pooler.dense", cfg.nEmbd(), cfg.nEmbd(), true, 0.02));
        this.mlmDense = child(new Linear("mlm.dense", cfg.nEmbd(), cfg.nEmbd(), true, 0.02));
        this.mlmLn = child(new LayerNorm("mlm.ln", cfg.nEmbd(), true, partial));
        this.mlmBias = parameter("mlm.bias", new long[] {tp.part(cfg.vocabSize())[1] - tp.part(cfg.vocabSize())[0]},
                Init.zeros(), false);
        this.nsp = cfg.nsp() ? child(new Linear("nsp", cfg.nEmbd(), 2, true, 0.02)) : null;
        if (partial) {
            mlmBias.shard(Parameter.Sharding.slice(new long[] {cfg.vocabSize()}, 0,
                    new long[][] {tp.part(cfg.vocabSize())}));
            List<Parameter> replicated = new ArrayList<>(position.parameters());
            replicated.addAll(segment.parameters());
            replicated.addAll(pooler.parameters());
            replicated.addAll(mlmDense.parameters());
            if (nsp != null) {
                replicated.addAll(nsp.parameters());
            }
            for (Parameter p : replicated) {
                p.shard(Parameter.Sharding.PARTIAL);
            }
        }
    }

    public TpLayout tensorParallel() {
        return tp;
    }

    private void requireSingleRank(String what) {
        if (tp.parallel()) {
            throw new IllegalStateException(what + " runs on one rank; under tensor parallelism train through segments()");
        }
    }

    public BertConfig config() {
        return cfg;
    }

    /** The padding bias [B, 1, 1, T] of ids [B*T], or null when nothing is padding. */
    public PtNDArray paddingBias(NDManager m, long[] ids, int batch, int t) {
        return AttentionMask.hasPadding(ids, cfg.padId()) ? AttentionMask.padding(m, ids, batch, t, cfg.padId()) : null;
    }

    /**
     * Hidden states [B, T, C] of ids [B, T] (int64) with segment ids [B, T] (null: all segment 0); {@code bias}
     * masks attention (usually {@link #paddingBias}; null: every position sees every position).
     */
    public PtNDArray encode(PtNDArray ids, PtNDArray segments, PtNDArray bias, ForwardContext ctx) {
        requireSingleRank("encode");
        long t = ids.getShape().get(1);
        if (t > cfg.maxPositions()) {
            throw new IllegalArgumentException("sequence of " + t + " exceeds max_positions " + cfg.maxPositions());
        }
        PtNDArray table = position.weight().value();
        PtNDArray pos = t == cfg.maxPositions() ? table : Ops.slice(table, 0, 0, t);
        PtNDArray seg = segments == null ? Ops.slice(segment.weight().value(), 0, 0, 1) : segment.forward(segments);
        PtNDArray x = Ops.add(Ops.add(word.forward(ids), pos), seg);
        x = ctx.dropout(embLn.forward(x), cfg.dropout(), "embeddings.drop");
        for (TransformerLayer layer : layers) {
            x = layer.forward(x, bias, null, null, ctx, null, null);
        }
        return lnF == null ? x : lnF.forward(x);
    }

    /** The pooled [CLS] output [B, C]: tanh(dense(h[:, 0])). */
    public PtNDArray pooled(PtNDArray hidden) {
        long b = hidden.getShape().get(0);
        PtNDArray cls = Ops.reshape(Ops.slice(hidden, 1, 0, 1), b, cfg.nEmbd());
        return Ops.tanh(pooler.forward(cls));
    }

    /** Masked-LM logits [..., V] of hidden states [..., C]. */
    public PtNDArray mlmLogits(PtNDArray hidden) {
        requireSingleRank("mlmLogits");
        PtNDArray h = mlmLn.forward(Ops.gelu(mlmDense.forward(hidden)));
        return Ops.linear(h, word.weight().value(), mlmBias.value());
    }

    /** Mean cross-entropy of the masked positions ({@code targets}: original ids there, -1 elsewhere). */
    public PtNDArray mlmLoss(PtNDArray hidden, Targets targets) {
        PtNDArray logits = mlmLogits(Ops.reshape(hidden, -1, cfg.nEmbd()));
        return Ops.crossEntropy(logits, targets.safe(), targets.mask(), targets.counted());
    }

    /** Next-sentence logits [B, 2] (0 = B follows A, 1 = random) of the pooled output. */
    public PtNDArray nspLogits(PtNDArray pooled) {
        if (nsp == null) {
            throw new IllegalStateException("this BERT has no NSP head (nsp: false)");
        }
        return nsp.forward(pooled);
    }

    /** The pre-training loss of a batch: masked LM, plus next-sentence prediction when the batch has NSP labels. */
    public PtNDArray pretrainingLoss(MlmBatch batch, ForwardContext ctx) {
        NDManager m = ctx.manager();
        int b = batch.batch();
        int t = batch.seqLen();
        PtNDArray ids = Ops.longs(m, batch.inputs(), b, t);
        PtNDArray segs = batch.segments() == null ? null : Ops.longs(m, batch.segments(), b, t);
        PtNDArray h = encode(ids, segs, paddingBias(m, batch.inputs(), b, t), ctx);
        PtNDArray loss = mlmLoss(h, Targets.of(m, batch.targets()));
        if (batch.nspLabels() != null && nsp != null) {
            PtNDArray logits = nspLogits(pooled(h));
            loss = Ops.add(loss, Ops.crossEntropy(logits, Ops.longs(m, batch.nspLabels(), b, 1), null, b));
        }
        return loss;
    }

    /** The token ids [B, T] of a batch: the input of {@link #segments}. */
    public static PtNDArray inputIds(NDManager m, MlmBatch batch) {
        return Ops.longs(m, batch.inputs(), batch.batch(), batch.seqLen());
    }

    /**
     * The pre-training loss of {@code batch} as a chain for {@link io.megalith.core.segment.SegmentedPass} (input:
     * {@link #inputIds}), computing exactly {@link #pretrainingLoss}. One rank: the embeddings (with their
     * LayerNorm and dropout), one segment per layer, and the heads with the loss. Under tensor parallelism:
     * <pre>
     *   embed          word (vocab-parallel) + (position + segment)/tp: partial sum        -all-reduce->
     *   embeddings.ln  LayerNorm + dropout of the sum: complete, the same on every rank     (no collective)
     *   layers.i.k     TransformerLayer.halves: attention, feed-forward (partial sums)       -all-reduce->
     *   head           final norm (post-LN: the last layer's ln2), MLM transform, this rank's vocabulary
     *                  slice of the tied logits, vocab-parallel cross-entropy; NSP counted 1/tp per rank
     * </pre>
     * Segments that run on complete inputs without a collective after them (embeddings.ln, the head) see partial
     * gradients, so their replicated parameters are PARTIAL (summed over the group with the others). A null batch
     * gives the chain's shape only (its parameters per segment, for planning buckets).
     */
    public List<Segment> segments(MlmBatch batch, NDManager m) {
        return segments(batch, m, 1f, 1f);
    }

    /**
     * As above, the chain's loss being {@code mlmWeight} times the mean MLM loss of the batch plus {@code nspWeight}
     * times its mean NSP loss: a trainer cutting a step into parts weighs each part's MLM by its share of the
     * step's masked tokens and its NSP by its share of the step's sequences (a part without masked tokens then
     * adds its NSP loss only).
     */
    public List<Segment> segments(MlmBatch batch, NDManager m, float mlmWeight, float nspWeight) {
        int b = batch == null ? 0 : batch.batch();
        int t = batch == null ? 0 : batch.seqLen();
        PtNDArray share = m == null ? null : Ops.scalar(m, 1f / tp.size());
        boolean masked = batch != null && Arrays.stream(batch.targets()).anyMatch(v -> v >= 0);
        Targets targets = masked ? Targets.of(m, batch.targets()) : null; // null: no MLM loss (NSP only)
        List<Segment> out = encoderSegments(batch == null ? null : batch.inputs(),
                batch == null ? null : batch.segments(), b, t, m);
        List<Parameter> headParams = new ArrayList<>(headNormParameters());
        headParams.addAll(pooler.parameters());
        headParams.addAll(mlmDense.parameters());
        headParams.addAll(mlmLn.parameters());
        headParams.add(mlmBias);
        if (nsp != null) {
            headParams.addAll(nsp.parameters());
        }
        headParams.add(word.weight()); // tied
        long[] nspLabels = batch == null ? null : batch.nspLabels();
        out.add(Segment.of("head", headParams, Segment.Boundary.NONE, 0,
                (x, skip, ctx) -> headLoss(x, targets, nspLabels, mlmWeight, nspWeight, share, ctx)));
        return out;
    }

    /**
     * The encoder's chain without a head (input: token ids [b, t]; null ids give the chain's shape only): the
     * embeddings and the layers as in {@link #segments}; its output is the layers' output, under tensor parallelism
     * a partial sum before the final norm, which a head applies with {@link #headNorm} (see {@link
     * SequenceClassifier#segments}).
     */
    public List<Segment> encoderSegments(long[] inputs, long[] segmentIds, int b, int t, NDManager m) {
        if (t > cfg.maxPositions()) {
            throw new IllegalArgumentException("sequence of " + t + " exceeds max_positions " + cfg.maxPositions());
        }
        PtNDArray segs = inputs == null || segmentIds == null ? null : Ops.longs(m, segmentIds, b, t);
        PtNDArray bias = inputs == null ? null : paddingBias(m, inputs, b, t);
        PtNDArray share = m == null ? null : Ops.scalar(m, 1f / tp.size());
        List<Segment> out = new ArrayList<>();
        List<Parameter> embParams = new ArrayList<>(List.of(word.weight(), position.weight(), segment.weight()));
        if (!tp.parallel()) {
            embParams.addAll(embLn.parameters());
            out.add(Segment.of("embed", embParams,
                    (ids, ctx) -> ctx.dropout(embLn.forward(embeddingSum(ids, segs, null)), cfg.dropout(),
                            "embeddings.drop")));
            for (int i = 0; i < layers.size(); i++) {
                TransformerLayer layer = layers.get(i);
                out.add(Segment.of("layers." + i, layer.parameters(),
                        (x, ctx) -> layer.forward(x, bias, null, null, ctx, null, null)));
            }
        } else {
            out.add(Segment.of("embed", embParams, Segment.Boundary.ALL_REDUCE, 0,
                    (ids, skip, ctx) -> embeddingSum(ids, segs, share)));
            out.add(Segment.of("embeddings.ln", embLn.parameters(), Segment.Boundary.NONE, 0,
                    (x, skip, ctx) -> ctx.dropout(embLn.forward(x), cfg.dropout(), "embeddings.drop")));
            for (int i = 0; i < layers.size(); i++) {
                TransformerLayer layer = layers.get(i);
                LayerNorm before = i == 0 ? null : layers.get(i - 1).outputNorm();
                List<TransformerLayer.Half> halves = layer.halves(bias, null, null, share, before);
                for (int k = 0; k < halves.size(); k++) {
                    TransformerLayer.Half h = halves.get(k);
                    // the whole layer's parameters with its first step: complete once that step's backward is done
                    out.add(Segment.of("layers." + i + "." + k, k == 0 ? layer.parameters() : List.of(),
                            Segment.Boundary.ALL_REDUCE, 0, (x, skip, ctx) -> h.forward(x, ctx)));
                }
            }
        }
        return out;
    }

    /**
     * The final norm a head applies to the (all-reduced) output of {@link #encoderSegments}: pre-LN's ln_f; post-LN
     * under tensor parallelism the last layer's ln2 (its halves leave it to the next step); else nothing.
     */
    public PtNDArray headNorm(PtNDArray x) {
        LayerNorm last = lnF != null ? lnF : tp.parallel() ? layers.get(layers.size() - 1).outputNorm() : null;
        return last == null ? x : last.forward(x);
    }

    /** The parameters {@link #headNorm} reads that no layer segment lists (pre-LN's ln_f). */
    public List<Parameter> headNormParameters() {
        return lnF == null ? List.of() : lnF.parameters();
    }

    /** The pre-training heads' parameters (pooler excluded): MLM transform and bias, NSP. */
    public List<Parameter> pretrainingHeadParameters() {
        List<Parameter> out = new ArrayList<>(mlmDense.parameters());
        out.addAll(mlmLn.parameters());
        out.add(mlmBias);
        if (nsp != null) {
            out.addAll(nsp.parameters());
        }
        return out;
    }

    /** The pooler's parameters (replicated; PARTIAL under tensor parallelism). */
    public List<Parameter> poolerParameters() {
        return pooler.parameters();
    }

    /** Word + position + segment embeddings of ids [B, T]; with {@code share}, this rank's partial sum. */
    private PtNDArray embeddingSum(PtNDArray ids, PtNDArray segs, PtNDArray share) {
        long t = ids.getShape().get(1);
        PtNDArray table = position.weight().value();
        PtNDArray pos = t == cfg.maxPositions() ? table : Ops.slice(table, 0, 0, t);
        PtNDArray seg = segs == null ? Ops.slice(segment.weight().value(), 0, 0, 1) : segment.forward(segs);
        PtNDArray replicated = Ops.add(pos, seg);
        if (share != null) {
            replicated = Ops.mul(replicated, share); // each rank adds 1/tp: the sum over the group adds it once
        }
        return Ops.add(word.forward(ids), replicated);
    }

    /** The heads and the loss of the layers' (summed) output x [B, T, C]. */
    private PtNDArray headLoss(PtNDArray x, Targets targets, long[] nspLabels, float mlmWeight, float nspWeight,
            PtNDArray share, ForwardContext ctx) {
        PtNDArray h = headNorm(x);
        boolean withNsp = nspLabels != null && nsp != null;
        PtNDArray nspLoss = null;
        if (withNsp) {
            long b = h.getShape().get(0);
            nspLoss = Ops.crossEntropy(nspLogits(pooled(h)), Ops.longs(ctx.manager(), nspLabels, b, 1), null, b);
            nspLoss = weighted(nspLoss, nspWeight, ctx);
        }
        boolean withMlm = targets != null;
        if (!withMlm && !withNsp) {
            throw new IllegalArgumentException("a BERT batch without masked tokens or NSP labels has no loss");
        }
        if (!tp.parallel()) {
            PtNDArray loss = withMlm ? weighted(mlmLoss(h, targets), mlmWeight, ctx) : null;
            return !withNsp ? loss : loss == null ? nspLoss : Ops.add(loss, nspLoss);
        }
        float reported = 0;
        PtNDArray surrogate = null;
        if (withMlm) {
            PtNDArray flat = Ops.reshape(h, -1, cfg.nEmbd());
            PtNDArray logits = Ops.linear(mlmLn.forward(Ops.gelu(mlmDense.forward(flat))), word.weight().value(),
                    mlmBias.value()); // [N, V/tp]: this rank's vocabulary slice
            float[] loss = new float[1];
            surrogate = weighted(VocabParallelCrossEntropy.surrogate(logits, targets.host(), word.firstRow(),
                    targets.counted(), tpGroup, loss), mlmWeight, ctx);
            reported = loss[0] * mlmWeight;
        }
        if (withNsp) {
            // replicated on every rank: each contributes 1/tp of its gradient, which the all-reduces add up once
            reported += nspLoss.getFloat();
            PtNDArray part = Ops.mul(nspLoss, share);
            surrogate = surrogate == null ? part : Ops.add(surrogate, part);
        }
        ctx.reportLoss(reported);
        return surrogate;
    }

    private static PtNDArray weighted(PtNDArray loss, float weight, ForwardContext ctx) {
        return weight == 1f ? loss : Ops.mul(loss, Ops.scalar(ctx.manager(), weight));
    }

    /** The word embedding (the MLM head reads it too). */
    public Parameter wordEmbedding() {
        return word.weight();
    }

    public List<TransformerLayer> layers() {
        return layers;
    }
}
