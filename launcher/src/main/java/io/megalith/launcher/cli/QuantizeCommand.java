package io.megalith.launcher.cli;

import io.megalith.core.checkpoint.CheckpointManifest;
import io.megalith.core.checkpoint.SafetensorsWeights;
import io.megalith.core.tensor.HostTensor;
import java.io.IOException;
import java.io.PrintStream;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code megalith quantize RUN --to int8|fp16|bf16}: a checkpoint's weights post-training quantized into one
 * safetensors file, by default {@code RUN/quantized/model-<to>.safetensors}; {@code megalith generate --weights} and
 * {@code megalith eval --weights} run from it. The weights are converted as {@code megalith ckpt export --dtype} does
 * (the same code, {@link WeightsExport}).
 */
@Command(name = "quantize", mixinStandardHelpOptions = true, description = "Write a run's checkpoint weights "
        + "quantized for inference as one safetensors file (local path or Hadoop URI), for megalith generate "
        + "--weights and megalith eval --weights.")
final class QuantizeCommand implements Callable<Integer> {
    private static final String TARGETS = "int8, fp16, bf16";

    @Parameters(index = "0", paramLabel = "DIR", description = "the run directory RUN (or a checkpoints/step-N "
            + "directory of it)")
    String run;

    @Option(names = "--to", required = true, paramLabel = "TEXT", description = "int8, fp16 or bf16. int8: every "
            + "matrix as int8 with a fp32 scale per output channel (NAME_scale), vectors fp32 (about 0.26x the "
            + "bytes); fp16 (or f16) / bf16: every fp32 tensor rounded to 16 bits (0.5x)")
    String to;

    @Option(names = {"-o", "--out"}, paramLabel = "FILE|DIR", description = "a .safetensors file, or a directory to "
            + "write model-int8.safetensors (-fp16, -bf16) into (default: RUN/quantized/)")
    String out;

    @Option(names = "--step", paramLabel = "N", description = "step to quantize (default: the newest complete one)")
    Long step;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        // every check before anything is read or written: bad input leaves nothing behind
        WeightsExport.Dtype dtype = WeightsExport.Dtype.parse(to).filter(d -> d != WeightsExport.Dtype.F32)
                .orElseThrow(() -> new ParameterException(spec.commandLine(), "--to: " + to + " is not one of "
                        + TARGETS + " (fp32 weights: megalith ckpt export)"));
        CkptCommand.Target target = CkptCommand.Target.of(run, step);
        List<Long> complete = target.store().completeSteps();
        if (complete.isEmpty()) {
            throw new ParameterException(spec.commandLine(), "RUN: " + run + " holds no complete checkpoint (no "
                    + "such run directory, or nothing saved yet)");
        }
        long s = target.stepOrLatest();
        if (!complete.contains(s)) {
            throw new ParameterException(spec.commandLine(), "--step: " + run + " has no complete checkpoint of step "
                    + s + "; complete: " + complete);
        }
        Path file = outputFile(target, dtype);
        FileSystem fs = WeightsExport.outputFs(file);

        CheckpointManifest m = target.store().manifest(s);
        Map<String, HostTensor> weights = WeightsExport.read(target.store(), s, m);
        long fp32 = WeightsExport.bytes(weights);
        Map<String, HostTensor> stored = dtype.store(weights);
        Path written = SafetensorsWeights.exportFile(fs, file, stored, dtype.metadata(s));
        PrintStream console = System.out;
        console.printf(Locale.ROOT, "quantized %d tensors of step %d to %s: %,d bytes%n", stored.size(), s, written,
                fs.getFileStatus(written).getLen());
        console.println(WeightsExport.sizeLine(dtype.quantizeName, stored, fp32));
        return 0;
    }

    /** --out as a file (a name ending in .safetensors, not a directory), else a directory for the default name. */
    private Path outputFile(CkptCommand.Target target, WeightsExport.Dtype dtype) throws IOException {
        String name = "model-" + dtype.quantizeName + ".safetensors";
        if (out == null) {
            return new Path(new Path(target.store().checkpointsDir().getParent(), "quantized"), name);
        }
        Path p = WeightsExport.outputPath(out);
        FileSystem fs = WeightsExport.outputFs(p);
        boolean directory = fs.exists(p) && fs.getFileStatus(p).isDirectory();
        return out.endsWith(".safetensors") && !directory ? p : new Path(p, name);
    }
}
