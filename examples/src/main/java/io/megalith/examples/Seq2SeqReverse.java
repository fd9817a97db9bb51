package io.megalith.examples;

import ai.djl.ndarray.NDManager;
import io.megalith.core.model.seq2seq.Seq2SeqTaskConfig;
import io.megalith.core.model.seq2seq.Seq2SeqTraining;
import io.megalith.core.tensor.Torch;
import java.nio.file.Path;
import java.util.List;

/**
 * The encoder-decoder family on its built-in task: train a small encoder-decoder to reverse digit strings
 * (teacher forcing, one rank), then decode held-out strings greedily (or with beam search) over the decoder's
 * KV cache and report exact match. {@code Seq2SeqReverse [conf/seq2seq-reverse.yaml] [key=value ...]},
 * e.g. {@code train.max_steps=500 decode.beams=4}; {@code data.task=pairs data.path=file.tsv} trains on
 * source<TAB>target lines of a file instead.
 */
public final class Seq2SeqReverse {
    private Seq2SeqReverse() {}

    public static void main(String[] args) throws Exception {
        Path config = Path.of(args.length > 0 ? args[0] : "conf/seq2seq-reverse.yaml");
        List<String> overrides = args.length > 1 ? List.of(args).subList(1, args.length) : List.of();
        Seq2SeqTaskConfig.Loaded cfg = Seq2SeqTaskConfig.load(config, overrides);
        Torch.load(cfg.threads());
        try (NDManager root = Torch.newManager()) {
            Seq2SeqTraining.Result r = Seq2SeqTraining.run(cfg.settings(), root, System.out);
            System.out.printf("%d steps in %.1f s, final loss %.4f, exact match %.2f%% on %d held-out strings (%s)%n",
                    r.steps(), r.seconds(), r.lastLoss(), 100 * r.exactMatch(), cfg.settings().evalStrings(),
                    cfg.settings().beams() <= 1 ? "greedy" : "beam " + cfg.settings().beams());
            r.samples().forEach(s -> System.out.println("  " + s));
        }
    }
}
