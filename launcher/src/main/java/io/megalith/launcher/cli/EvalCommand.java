package io.megalith.launcher.cli;

import io.megalith.core.checkpoint.CheckpointStore;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.family.ModelFamilies;
import io.megalith.core.family.ModelFamily;
import io.megalith.core.inference.TrainedGpt;
import io.megalith.core.inference.TrainedModel;
import io.megalith.launcher.data.DataPreparation;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.PrintStream;
import java.util.List;
import java.util.concurrent.Callable;
import org.apache.hadoop.conf.Configuration;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code megalith eval --run RUN [--weights FILE]}: a GPT run's validation loss, the number training logs as
 * val_loss (same batches, same mean), on its checkpoint's weights or on those of a file {@code megalith quantize} or
 * {@code megalith ckpt export} wrote: what a quantization costs in loss.
 */
@Command(name = "eval", mixinStandardHelpOptions = true, description = "A GPT run's validation loss (what training "
        + "logs as val_loss) on its checkpoint's weights, or on those of a file megalith quantize or ckpt export "
        + "wrote (int8 dequantized, 16-bit widened).")
final class EvalCommand implements Callable<Integer> {
    @Option(names = {"-r", "--run"}, required = true, paramLabel = "DIR", description = "run.dir of a trained GPT run")
    String runDir;

    @Option(names = "--weights", paramLabel = "FILE|DIR", description = "evaluate these weights instead of the "
            + "checkpoint's (as megalith quantize or ckpt export writes them, any dtype)")
    String weights;

    @Option(names = "--prune", paramLabel = "X", description = "first prune each layer weight matrix to sparsity X "
            + "in [0, 1) by magnitude, at once (no fine-tuning: a prune: section trains through it)")
    Double prune;

    @Option(names = "--batches", paramLabel = "N", description = "validation batches (default: the run's "
            + "train.eval_batches, as training evaluates)")
    Integer batches;

    @Mixin
    CheckpointOptions checkpoint;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        Configuration hadoop = new Configuration();
        if (batches != null && batches < 1) {
            throw new ParameterException(spec.commandLine(), "--batches: must be at least 1, got " + batches);
        }
        if (prune != null && (prune < 0 || prune >= 1)) {
            throw new ParameterException(spec.commandLine(), "--prune: must be in [0, 1), got " + prune);
        }
        List<Long> complete = new CheckpointStore(runDir, hadoop, 0).completeSteps();
        if (complete.isEmpty()) {
            throw new ParameterException(spec.commandLine(), "--run: " + runDir + " holds no complete checkpoint (no "
                    + "such run directory, or nothing saved yet)");
        }
        if (checkpoint.step != null && !complete.contains(checkpoint.step)) {
            throw new ParameterException(spec.commandLine(), "--step: " + runDir + " has no complete checkpoint of "
                    + "step " + checkpoint.step + "; complete: " + complete);
        }
        ModelFamily family = ModelFamilies.ofRun(runDir, hadoop);
        if (family != ModelFamilies.GPT) {
            throw new ParameterException(spec.commandLine(), "--run: " + runDir + " is a " + family.name()
                    + " run; eval supports GPT runs");
        }
        PrintStream out = System.out;
        try (TrainedModel trained = family.loadTrained(checkpoint.of(runDir), hadoop, checkpoint.threads)) {
            TrainedGpt gpt = (TrainedGpt) trained;
            if (weights != null) {
                try {
                    gpt.useWeights(weights);
                } catch (FileNotFoundException e) {
                    throw new ParameterException(spec.commandLine(), "--weights: " + e.getMessage());
                }
            }
            double sparsity = prune == null ? 0 : gpt.prune(prune);
            MegalithConfig cfg = gpt.config();
            int n = batches != null ? batches : cfg.train().evalBatches();
            TrainedGpt.Validation v = gpt.validate(n, preparedData(cfg, hadoop));
            out.printf("megalith: %s at step %d, %s%s%n", runDir, gpt.step(), weights == null ? "checkpoint weights"
                    : "weights of " + weights, prune == null ? ""
                    : String.format(java.util.Locale.ROOT, ", layer matrices pruned at once to %.1f%% zeros",
                            100 * sparsity));
            out.printf("megalith: data: %s%n", v.data());
            out.printf("val_loss %s (%d batches of %d rows)%n", v.loss(), v.batches(), v.rows());
        }
        return 0;
    }

    /**
     * The token shards Spark prepared for a text run launched with Spark (what its ranks read: the validation split
     * is theirs), if they are still there; else null, and data.path is tokenized here as an in-process run's was.
     */
    private String preparedData(MegalithConfig cfg, Configuration hadoop) throws IOException {
        if (!"text".equals(cfg.data().task()) || TrainCommand.INPROCESS.equals(cfg.launch().master())) {
            return null;
        }
        return DataPreparation.existing(cfg, runDir, hadoop).orElse(null);
    }
}
