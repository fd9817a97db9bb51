package io.megalith.core.train.outputs;

import ai.djl.ndarray.NDManager;
import io.megalith.core.checkpoint.CheckpointStore;
import io.megalith.core.checkpoint.LoadedCheckpoint;
import io.megalith.core.checkpoint.RunState;
import io.megalith.core.checkpoint.RunStateCodec;
import io.megalith.core.checkpoint.ShardedCheckpointer;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.model.seq2seq.EncoderDecoder;
import io.megalith.core.model.seq2seq.Seq2SeqConfig;
import io.megalith.core.model.seq2seq.Seq2SeqGenerator;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.Torch;
import io.megalith.core.train.task.Seq2SeqRunTask;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.apache.hadoop.conf.Configuration;

/**
 * An encoder-decoder ({@code model.family: encoder_decoder}) loaded for decoding from the latest complete checkpoint
 * of a {@code megalith train} run, whatever dp x tp layout wrote it: a checkpoint holds global tensors (pieces are
 * assembled on load), so the model is always built as one rank. The vocabulary comes from the checkpoint's
 * tokenizer.json (see {@link Seq2SeqRunTask}), the layer counts and widths from its saved config; the rebuilt shape
 * must equal the one the checkpoint records.
 */
public final class TrainedSeq2Seq implements AutoCloseable {
    private final MegalithConfig config;
    private final long step;
    private final Seq2SeqRunTask.Vocabulary vocabulary;
    private final NDManager manager;
    private final EncoderDecoder model;

    private TrainedSeq2Seq(MegalithConfig config, long step, Seq2SeqRunTask.Vocabulary vocabulary, NDManager manager,
            EncoderDecoder model) {
        this.config = config;
        this.step = step;
        this.vocabulary = vocabulary;
        this.manager = manager;
        this.model = model;
    }

    /** The model.family of a run directory's newest checkpoint (gpt for checkpoints older than the key), if any. */
    public static Optional<String> family(String runDir, Configuration hadoop) throws IOException {
        return ShardedCheckpointer.peekLatest(new CheckpointStore(runDir, hadoop, 0)).map(r -> r.state().family());
    }

    /** {@code family}: the encoder-decoder's model.family (the registry's name), which the checkpoint must hold. */
    public static TrainedSeq2Seq load(String runDir, String family, Configuration hadoop, int threads)
            throws IOException {
        Torch.load(threads);
        LoadedCheckpoint ckpt = new CheckpointStore(runDir, hadoop, 0).loadLatest()
                .orElseThrow(() -> new IOException("no complete checkpoint in " + runDir + "/checkpoints"));
        RunState state = RunStateCodec.decode(ckpt.blobFiles().get(RunStateCodec.FILE));
        if (!family.equals(state.family())) {
            throw new IOException(runDir + " holds a model.family " + state.family() + " checkpoint, not an "
                    + family + "'s");
        }
        MegalithConfig cfg = ConfigLoader.fromYaml(state.configYaml(), List.of(), runDir + " (saved config)");
        Seq2SeqRunTask.Vocabulary vocab = Seq2SeqRunTask.vocabulary(
                ckpt.blobFiles().get(ShardedCheckpointer.TOKENIZER_FILE), cfg);
        Seq2SeqConfig shape = vocab.modelConfig(cfg);
        Seq2SeqConfig adapted = shape.withLora(cfg.finetune().loraConfig());
        if (adapted.toString().equals(state.familyModel())) { // trained with LoRA adapters (finetune.lora)
            shape = adapted;
        }
        if (!shape.toString().equals(state.familyModel())) {
            throw new IOException(runDir + ": the checkpoint's model (" + state.familyModel() + ") is not the one its "
                    + "config and vocabulary describe (" + shape + ")");
        }
        NDManager manager = Torch.newManager();
        try {
            EncoderDecoder model = new EncoderDecoder(shape);
            ParameterStore params = new ParameterStore(model, manager, state.seed());
            params.load(ckpt.tensorFiles().get(ShardedCheckpointer.MODEL));
            return new TrainedSeq2Seq(cfg, state.step(), vocab, manager, model);
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    /**
     * Decodes source strings as one batch padded to the model's source length (as the held-out evaluation does):
     * greedy with {@code beams} 1, else beam search (length penalty 1). {@code maxLen}: at most this many output
     * tokens (0: the model's target length).
     */
    public List<String> decode(List<String> sources, int beams, int maxLen) {
        int s = vocabulary.maxSourceLen();
        long[] src = vocabulary.batch(sources);
        int len = maxLen > 0 ? maxLen + 1 : vocabulary.maxTargetLen(); // + 1: room for EOS
        Seq2SeqGenerator gen = new Seq2SeqGenerator(model, manager);
        List<String> out = new ArrayList<>();
        if (beams <= 1) {
            for (long[] t : gen.greedy(src, sources.size(), s, len)) {
                out.add(vocabulary.decode(t));
            }
        } else {
            for (Seq2SeqGenerator.Hypothesis h : gen.beam(src, sources.size(), s, len, beams, 1.0)) {
                out.add(vocabulary.decode(h.tokens()));
            }
        }
        return out;
    }

    public MegalithConfig config() {
        return config;
    }

    public long step() {
        return step;
    }

    public Seq2SeqRunTask.Vocabulary vocabulary() {
        return vocabulary;
    }

    public EncoderDecoder model() {
        return model;
    }

    public NDManager manager() {
        return manager;
    }

    @Override
    public void close() {
        manager.close();
    }
}
