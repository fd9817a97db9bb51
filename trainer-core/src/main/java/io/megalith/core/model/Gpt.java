package io.megalith.core.model;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.model.transformer.LayerSpec;
import io.megalith.core.model.transformer.TransformerLayer;
import io.megalith.core.nn.Embedding;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.LayerNorm;
import io.megalith.core.nn.Module;
import io.megalith.core.nn.Parameter;
import io.megalith.core.tensor.Ops;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A GPT with the architecture of nanoGPT's model.py: token + learned position embeddings, pre-LN
 * blocks, final LayerNorm, and an LM head tied to the token embedding (logits = h wte^T).
 * Init: normal(0, 0.02), residual projections normal(0, 0.02/sqrt(2 n_layer)), norms 1, biases 0.
 *
 * <p>One-rank code: tensor, sequence, pipeline and expert parallelism are applied from outside by a plan
 * ({@code parallelize.GptPlan}), which slices the declared layers and keeps a stage's part before storage is bound.
 */
public final class Gpt extends Module {
    private final GptConfig cfg;
    private final LoraConfig lora;
    private Embedding wte; // null on middle pipeline stages
    private Embedding wpe; // first stage only
    private final List<TransformerLayer> blocks = new ArrayList<>();
    private LayerNorm lnF; // last stage only
    private PtNDArray causal; // [block_size, block_size]: 0 where a query may see a key, -inf in its future

    public Gpt(GptConfig cfg) {
        this(cfg, LoraConfig.NONE);
    }

    /**
     * With LoRA adapters ({@link io.megalith.core.lora.LoraLinear}) on the attention and MLP projections {@code lora}
     * targets ({@code attn.qkv}, {@code attn.proj}, {@code mlp.fc}, {@code mlp.proj}, or a full name such as
     * {@code blocks.3.mlp.fc}): base parameters keep their names, adapters add {@code <layer>.lora_a/lora_b}. With
     * {@link io.megalith.core.lora.LoraConfig#NONE} it is exactly {@link #Gpt(GptConfig)}; MoE experts get none.
     */
    public Gpt(GptConfig cfg, LoraConfig lora) {
        super("");
        this.cfg = cfg;
        this.lora = lora;
        this.wte = child(new Embedding("wte", cfg.vocabSize(), cfg.nEmbd(), 0.02));
        this.wpe = child(new Embedding("wpe", cfg.blockSize(), cfg.nEmbd(), 0.02));
        LayerSpec spec = cfg.layerSpec(lora);
        for (int i = 0; i < cfg.nLayer(); i++) {
            blocks.add(child(new TransformerLayer("blocks." + i, spec, i, false)));
        }
        this.lnF = child(new LayerNorm("ln_f", cfg.nEmbd(), cfg.bias()));
    }

    /**
     * Keeps blocks [from, to) only and, where asked, the token embedding (also the tied head), the position embedding
     * and the final norm: the part of the model a pipeline stage holds. Parameters keep their one-rank names
     * ({@code blocks.5.mlp.fc.weight} wherever block 5 is). Only before storage is laid out.
     */
    public void keep(int from, int to, boolean tokens, boolean positions, boolean finalNorm) {
        List<TransformerLayer> kept = new ArrayList<>(blocks.subList(from, to));
        for (TransformerLayer b : blocks) {
            if (!kept.contains(b)) {
                remove(b);
            }
        }
        blocks.clear();
        blocks.addAll(kept);
        if (!tokens && wte != null) {
            remove(wte);
            wte = null;
        }
        if (!positions && wpe != null) {
            remove(wpe);
            wpe = null;
        }
        if (!finalNorm && lnF != null) {
            remove(lnF);
            lnF = null;
        }
    }

    /** The LoRA adapters this model was built with ({@link io.megalith.core.lora.LoraConfig#NONE}: none). */
    public LoraConfig lora() {
        return lora;
    }

    public GptConfig config() {
        return cfg;
    }

    /** The token embedding (and tied head), or null where a pipeline stage does not hold it. */
    public Embedding wte() {
        return wte;
    }

    /** The position embedding, or null where a pipeline stage does not hold it. */
    public Embedding wpe() {
        return wpe;
    }

    /** The blocks this model holds, in order (all of them unless a pipeline stage kept some). */
    public List<TransformerLayer> blocks() {
        return Collections.unmodifiableList(blocks);
    }

    /** The final LayerNorm, or null where a pipeline stage does not hold it. */
    public LayerNorm lnF() {
        return lnF;
    }

    /** The token embedding's weight this model holds (first and last stage: the head is tied to it), or null. */
    public Parameter tokenEmbedding() {
        return wte == null ? null : wte.weight();
    }

    /** Creates the model's constant tensors (causal mask, attention scale) in {@code manager}; call once. */
    public void initConstants(NDManager manager) {
        for (TransformerLayer b : blocks) {
            b.attn().initConstants(manager);
        }
        int n = cfg.blockSize();
        float[] bias = new float[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = i + 1; j < n; j++) {
                bias[i * n + j] = Float.NEGATIVE_INFINITY; // a key may not be in the query's future
            }
        }
        this.causal = Ops.floats(manager, bias, n, n);
    }

    /** The causal bias of t queries after {@code past} cached positions: rows [past, past+t), columns [0, past+t). */
    public PtNDArray causalMask(long past, long t) {
        return Ops.slice(Ops.slice(causal, 0, past, past + t), 1, 0, past + t);
    }

    /** Rows [past, past + t) of the position table, [t, C] (broadcast over the batch). */
    public PtNDArray positions(long past, long t) {
        if (past + t > cfg.blockSize()) {
            throw new IllegalArgumentException("sequence of " + (past + t) + " exceeds block_size " + cfg.blockSize());
        }
        PtNDArray table = wpe.weight().value();
        // the whole table needs no slice (whose backward would zero-fill a copy)
        return past == 0 && t == cfg.blockSize() ? table : Ops.slice(table, 0, past, past + t);
    }

    /** Token + position embeddings (with dropout) of ids [B, T] placed after {@code past} cached positions. */
    public PtNDArray embed(PtNDArray ids, ForwardContext ctx, long past) {
        PtNDArray pos = positions(past, ids.getShape().get(1));
        PtNDArray x = Ops.add(wte.forward(ids), pos);
        return ctx.dropout(x, cfg.dropout(), "drop");
    }

    /** Logits [N, V] for hidden states [N, C] through the tied head. */
    public PtNDArray head(PtNDArray h) {
        return Ops.linear(h, wte.weight().value(), null);
    }

    /** Final LayerNorm, tied head and mean cross-entropy of hidden states [B, T, C] (ignored targets excluded). */
    private PtNDArray headLoss(PtNDArray x, Targets targets) {
        PtNDArray logits = head(Ops.reshape(lnF.forward(x), -1, cfg.nEmbd()));
        return targets.loss(logits);
    }

    /** Final hidden states [B, T, C] for token ids [B, T] (int64), continuing after {@code cache} if given. */
    public PtNDArray hidden(PtNDArray ids, ForwardContext ctx, KvCache cache) {
        requireWhole("hidden");
        long t = ids.getShape().get(1);
        long past = cache == null ? 0 : cache.length();
        PtNDArray x = embed(ids, ctx, past);
        PtNDArray mask = causalMask(past, t);
        for (int i = 0; i < blocks.size(); i++) {
            x = blocks.get(i).forward(x, mask, null, null, ctx, cache == null ? null : cache.layer(i), null);
        }
        if (cache != null) {
            cache.advance(t);
        }
        return lnF.forward(x);
    }

    /** Mean cross-entropy of next-token targets over the batch (ignored targets excluded). */
    public PtNDArray loss(PtNDArray ids, Targets targets, ForwardContext ctx) {
        requireWhole("loss");
        PtNDArray x = embed(ids, ctx, 0);
        PtNDArray mask = causalMask(0, ids.getShape().get(1));
        for (TransformerLayer b : blocks) {
            x = b.forward(x, mask, null, null, ctx, null, null);
        }
        return headLoss(x, targets);
    }

    /** Whole-graph paths (inference, the KV cache) are for the full model; a parallelized part runs segments. */
    private void requireWhole(String what) {
        if (blocks.size() != cfg.nLayer() || wte == null || wpe == null || lnF == null
                || wte.weight().sharding().kind() != Parameter.Sharding.Kind.NONE) {
            throw new IllegalStateException(what + " of a parallelized part of the model: run its plan's segments, "
                    + "or a full model");
        }
    }

    /** Logits [B, V] of the last position only (as nanoGPT's inference path). */
    public PtNDArray lastLogits(PtNDArray ids, ForwardContext ctx, KvCache cache) {
        PtNDArray h = hidden(ids, ctx, cache);
        long t = h.getShape().get(1);
        PtNDArray last = Ops.reshape(Ops.slice(h, 1, t - 1, t), -1, cfg.nEmbd());
        return head(last);
    }

    /** Logits [B, T, V] at every position. */
    public PtNDArray logits(PtNDArray ids, ForwardContext ctx) {
        PtNDArray h = hidden(ids, ctx, null);
        return head(h);
    }
}
