package io.megalith.core.model.bert;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
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
import io.megalith.core.tensor.Ops;
import java.util.ArrayList;
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
 *
 * <p>One-rank code: tensor parallelism is applied from outside by a plan ({@code parallelize.BertPlan}), which
 * slices the declared layers before storage is bound; its {@code ParallelBert} runs the segment chain.
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

    public Bert(BertConfig cfg) {
        super("");
        this.cfg = cfg;
        this.word = child(new Embedding("embeddings.word", cfg.vocabSize(), cfg.nEmbd(), 0.02));
        this.position = child(new Embedding("embeddings.position", cfg.maxPositions(), cfg.nEmbd(), 0.02));
        this.segment = child(new Embedding("embeddings.segment", cfg.typeVocabSize(), cfg.nEmbd(), 0.02));
        this.embLn = child(new LayerNorm("embeddings.ln", cfg.nEmbd(), cfg.bias()));
        for (int i = 0; i < cfg.nLayer(); i++) {
            layers.add(child(new TransformerLayer("layers." + i, cfg.layerSpec(), i, false)));
        }
        this.lnF = cfg.preLn() ? child(new LayerNorm("ln_f", cfg.nEmbd(), cfg.bias())) : null;
        this.pooler = child(new Linear("pooler.dense", cfg.nEmbd(), cfg.nEmbd(), true, 0.02));
        this.mlmDense = child(new Linear("mlm.dense", cfg.nEmbd(), cfg.nEmbd(), true, 0.02));
        this.mlmLn = child(new LayerNorm("mlm.ln", cfg.nEmbd(), true));
        this.mlmBias = parameter("mlm.bias", new long[] {cfg.vocabSize()}, Init.zeros(), false);
        this.nsp = cfg.nsp() ? child(new Linear("nsp", cfg.nEmbd(), 2, true, 0.02)) : null;
    }

    /** Whole-graph paths are for the full model; a tensor-parallel part runs its plan's segments. */
    private void requireWhole(String what) {
        if (word.weight().sharding().kind() != Parameter.Sharding.Kind.NONE) {
            throw new IllegalStateException(what + " runs on one rank; under tensor parallelism train through the "
                    + "plan's segments");
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
        requireWhole("encode");
        long t = ids.getShape().get(1);
        if (t > cfg.maxPositions()) {
            throw new IllegalArgumentException("sequence of " + t + " exceeds max_positions " + cfg.maxPositions());
        }
        PtNDArray x = Ops.add(Ops.add(word.forward(ids), positions(t)), segmentEmbeddings(segments));
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
        requireWhole("mlmLogits");
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

    /** The token ids [B, T] of a batch: the input of its segment chain ({@code parallelize.ParallelBert}). */
    public static PtNDArray inputIds(NDManager m, MlmBatch batch) {
        return Ops.longs(m, batch.inputs(), batch.batch(), batch.seqLen());
    }

    /** Rows [0, t) of the position table, [t, C] (broadcast over the batch). */
    public PtNDArray positions(long t) {
        if (t > cfg.maxPositions()) {
            throw new IllegalArgumentException("sequence of " + t + " exceeds max_positions " + cfg.maxPositions());
        }
        PtNDArray table = position.weight().value();
        // the whole table needs no slice (whose backward would zero-fill a copy)
        return t == cfg.maxPositions() ? table : Ops.slice(table, 0, 0, t);
    }

    /** Segment embeddings of segment ids [B, T], or of segment 0 ([1, C], broadcast) when they are null. */
    public PtNDArray segmentEmbeddings(PtNDArray segments) {
        return segments == null ? Ops.slice(segment.weight().value(), 0, 0, 1) : segment.forward(segments);
    }

    /** The word embedding (the MLM head reads it too). */
    public Parameter wordEmbedding() {
        return word.weight();
    }

    public Embedding word() {
        return word;
    }

    public Embedding position() {
        return position;
    }

    public Embedding segment() {
        return segment;
    }

    /** The LayerNorm of the embedding sum. */
    public LayerNorm embeddingNorm() {
        return embLn;
    }

    public List<TransformerLayer> layers() {
        return layers;
    }

    /** Pre-LN's final norm, or null (post-LN). */
    public LayerNorm lnF() {
        return lnF;
    }

    public Linear pooler() {
        return pooler;
    }

    /** The MLM transform's dense layer (gelu, then {@link #mlmNorm}). */
    public Linear mlmDense() {
        return mlmDense;
    }

    public LayerNorm mlmNorm() {
        return mlmLn;
    }

    /** The MLM head's vocabulary bias [V]. */
    public Parameter mlmBias() {
        return mlmBias;
    }

    /** The next-sentence head, or null ({@code nsp: false}). */
    public Linear nsp() {
        return nsp;
    }
}
