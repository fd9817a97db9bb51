package io.megalith.launcher.cli;

import io.megalith.core.family.ModelFamilies;
import io.megalith.core.family.ModelFamily;
import io.megalith.core.model.seq2seq.Seq2SeqTask;
import io.megalith.core.train.Objective;
import io.megalith.core.train.outputs.TrainedSeq2Seq;
import io.megalith.core.train.task.Seq2SeqRunTask;
import java.io.IOException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.apache.hadoop.conf.Configuration;

/**
 * {@code megalith generate} on a run of another model family than the GPT: an encoder_decoder decodes each source
 * string (greedy, or beam search with --beams) and prints {@code source -> output}; a BERT run is refused (an
 * encoder does not generate). Kept apart from {@link GenerateCommand}, whose options and GPT path it shares.
 */
final class FamilyGenerate {
    private FamilyGenerate() {}

    /** Handles the run if its checkpoints are not a GPT's; returns null when they are (or there are none). */
    static Integer run(String runDir, Configuration hadoop, List<String> prompts, int beams, Integer maxNewTokens,
            Integer samples, int threads, PrintStream out) throws IOException {
        Optional<ModelFamily> family = TrainedSeq2Seq.family(runDir, hadoop).flatMap(ModelFamilies::find);
        Objective objective = family.map(ModelFamily::objective).orElse(Objective.NEXT_TOKEN);
        if (objective == Objective.MASKED_TOKENS) {
            String name = family.get().name();
            throw new IllegalArgumentException(runDir + " holds a model.family " + name + " run: an encoder does not "
                    + "generate text; fine-tune it for a task with megalith finetune (model.family: " + name + ")");
        }
        if (objective != Objective.SOURCE_TO_TARGET) {
            return null; // a GPT's (or no checkpoint): GenerateCommand's own path
        }
        if (beams < 1) {
            throw new IllegalArgumentException("--beams must be >= 1 (got " + beams + ")");
        }
        try (TrainedSeq2Seq trained = TrainedSeq2Seq.load(runDir, family.get().name(), hadoop, threads)) {
            List<String> sources = new ArrayList<>();
            List<String> expected = new ArrayList<>();
            if (prompts != null && !prompts.isEmpty()) {
                sources.addAll(prompts);
            } else {
                heldOut(trained, hadoop, samples != null ? Math.max(1, samples) : 8, sources, expected);
            }
            List<String> outputs = trained.decode(sources, beams, maxNewTokens != null ? maxNewTokens : 0);
            out.printf("megalith: %s at step %d: encoder-decoder, %s%n", runDir, trained.step(),
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
        return 0;
    }

    /** No --prompt: the run's own held-out examples (rebuilt from its saved config; pairs need data.path). */
    private static void heldOut(TrainedSeq2Seq trained, Configuration hadoop, int n, List<String> sources,
            List<String> expected) throws IOException {
        Seq2SeqTask task;
        try {
            task = Seq2SeqRunTask.open(trained.config(), hadoop);
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
}
