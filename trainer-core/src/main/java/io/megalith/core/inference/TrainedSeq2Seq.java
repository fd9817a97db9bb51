package io.megalith.core.inference;

import ai.djl.ndarray.NDManager;
import io.megalith.core.checkpoint.RunState;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.model.seq2seq.EncoderDecoder;
import io.megalith.core.model.seq2seq.Seq2SeqConfig;
import io.megalith.core.model.seq2seq.Seq2SeqGenerator;
import io.megalith.core.model.seq2seq.Seq2SeqTask;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.Torch;
import io.megalith.core.train.task.Seq2SeqRunTask;
import java.io.IOException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;
import org.apache.hadoop.conf.Configuration;

/**
 * An encoder-decoder ({@code model.family: encoder_decoder}) loaded for decoding from the latest complete checkpoint
 * of a {@code megalith train} run, whatever dp x tp layout wrote it: a checkpoint holds global tensors (pieces are
 * assembled on load), so the model is always built as one rank. The vocabulary comes from the checkpoint's
 * tokenizer.json (see {@link Seq2SeqRunTask}), the layer counts and widths from its saved config; the rebuilt shape
 * must equal the one the checkpoint records.
 */
public final class TrainedSeq2Seq implements TrainedModel {
    private final String runDir;
    private final Configuration hadoop;
    private final MegalithConfig config;
    private final long step;
    private final Seq2SeqRunTask.Vocabulary vocabulary;
    private final NDManager manager;
    private final EncoderDecoder model;

    private TrainedSeq2Seq(String runDir, Configuration hadoop, MegalithConfig config, long step,
            Seq2SeqRunTask.Vocabulary vocabulary, NDManager manager, EncoderDecoder model) {
        this.runDir = runDir;
        this.hadoop = hadoop;
        this.config = config;
        this.step = step;
        this.vocabulary = vocabulary;
        this.manager = manager;
        this.model = model;
    }

    /** {@code family}: whether a checkpoint's model.family is the encoder-decoder's (the registry answers). */
    public static TrainedSeq2Seq load(RunCheckpoint which, Predicate<String> family, Configuration hadoop,
            int threads)
            throws IOException {
        Torch.load(threads);
        String runDir = which.runDir();
        SavedRun saved = SavedRun.load(which, hadoop);
        RunState state = saved.state();
        if (!family.test(state.family())) {
            throw new IOException(runDir + " holds a model.family " + state.family() + " checkpoint, not an "
                    + "encoder-decoder's");
        }
        MegalithConfig cfg = saved.config();
        Seq2SeqRunTask.Vocabulary vocab = Seq2SeqRunTask.vocabulary(saved.tokenizer(), cfg);
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
            params.load(saved.model());
            return new TrainedSeq2Seq(runDir, hadoop, cfg, state.step(), vocab, manager, model);
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

    /**
     * Decodes each source string of the request (greedy, or beam search with {@code beams} > 1) and prints {@code
     * source -> output}; without prompts, the run's own held-out examples, each marked ok or with what was expected.
     */
    @Override
    public void generate(GenerateRequest r, PrintStream out) throws IOException {
        int beams = r.beams();
        if (beams < 1) {
            throw new IllegalArgumentException("--beams must be >= 1 (got " + beams + ")");
        }
        List<String> sources = new ArrayList<>();
        List<String> expected = new ArrayList<>();
        if (!r.prompts().isEmpty()) {
            sources.addAll(r.prompts());
        } else {
            heldOut(r.samples() != null ? Math.max(1, r.samples()) : 8, sources, expected);
        }
        List<String> outputs = decode(sources, beams, r.maxNewTokens() != null ? r.maxNewTokens() : 0);
        out.printf("megalith: %s at step %d: encoder-decoder, %s%n", runDir, step,
                beams == 1 ? "greedy" : "beam search, " + beams + " beams");
        int correct = 0;
        for (int i = 0; i < sources.size(); i++) {
            String line = sources.get(i) + " -> " + outputs.get(i);
            if (!expected.isEmpty()) {
                boolean ok = outputs.get(i).equals(expected.get(i));
                correct += ok ? 1 : 0;
                line += ok ? "  ok" : "  (expected " + expected.get(i) + ")";
            }
            out.println(line);
        }
        if (!expected.isEmpty()) {
            out.printf("%d of %d held-out examples exact%n", correct, sources.size());
        }
    }

    /** No prompt: the run's own held-out examples (rebuilt from its saved config; pairs need data.path). */
    private void heldOut(int n, List<String> sources, List<String> expected) {
        Seq2SeqTask task;
        try {
            task = Seq2SeqRunTask.open(config, hadoop);
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("no --prompt given and the run's held-out pairs cannot be read ("
                    + e.getMessage() + "); pass source strings with --prompt", e);
        }
        int count = task.heldOutSize(n);
        if (count == 0) {
            throw new IllegalArgumentException("the run holds out no examples; pass source strings with --prompt");
        }
        Seq2SeqTask.Batch b = task.heldOut(0, count);
        for (int i = 0; i < count; i++) {
            sources.add(task.text(b.source(i)));
            expected.add(task.text(b.expected(i)));
        }
    }

    @Override
    public MegalithConfig config() {
        return config;
    }

    @Override
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
