package io.megalith.examples;

import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.family.ModelFamilies;
import io.megalith.core.family.seq2seq.Seq2SeqRun;
import io.megalith.core.train.TrainingRun;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;

/**
 * The encoder-decoder family on its built-in task: train a small encoder-decoder to reverse digit strings
 * (teacher forcing) through the same training run as {@code megalith train} (launch.master inprocess, one rank),
 * then decode held-out strings greedily (or with beam search) over the decoder's KV cache and report exact match.
 * {@code Seq2SeqReverse [conf/encoder-decoder-reverse.yaml] [key=value ...]}, e.g. {@code train.max_steps=500
 * decode.beams=4}; {@code data.task=pairs data.path=file.tsv} trains on source<TAB>target lines of a file instead.
 * The run lives in run.dir: a second call resumes it (set {@code run.dir=...} to train afresh).
 */
public final class Seq2SeqReverse {
    private static final String BEAMS = "decode.beams=";

    private Seq2SeqReverse() {}

    public static void main(String[] args) throws Exception {
        Path config = Path.of(args.length > 0 ? args[0] : "conf/encoder-decoder-reverse.yaml");
        List<String> overrides = new ArrayList<>();
        int beams = 1; // the example's own key; every other one is the config's
        for (int i = 1; i < args.length; i++) {
            if (args[i].startsWith(BEAMS)) {
                beams = Integer.parseInt(args[i].substring(BEAMS.length()));
            } else {
                overrides.add(args[i]);
            }
        }
        MegalithConfig cfg = ConfigLoader.load(config, overrides);
        long start = System.nanoTime();
        try (TrainingRun run = ModelFamilies.of(cfg).newInProcessRun(cfg, new Configuration(), System.out)) {
            TrainingRun.Summary r = run.run(); // logs exact match every train.eval_every steps and at the end
            double exactMatch = r.exactMatch() == null ? Double.NaN : r.exactMatch();
            List<String> samples = r.samples();
            if (beams > 1 && run.rankModel() instanceof Seq2SeqRun seq2seq) { // the run evaluates greedily
                samples = new ArrayList<>();
                exactMatch = seq2seq.exactMatch(run.fullParameters(), beams, samples);
            }
            System.out.printf("%d steps in %.1f s, final loss %.4f, exact match %.2f%% on %d held-out strings (%s)%n",
                    r.endStep(), (System.nanoTime() - start) / 1e9, r.lastLoss(), 100 * exactMatch,
                    cfg.data().evalPairs(), beams <= 1 ? "greedy" : "beam " + beams);
            samples.forEach(s -> System.out.println("  " + s));
        }
    }
}
