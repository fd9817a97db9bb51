package io.megalith.launcher.cli;

import io.megalith.core.config.ConfigException;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.InvalidInputException;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.family.ModelFamilies;
import io.megalith.core.train.TrainingRun;
import io.megalith.core.train.outputs.LoraOutputs;
import io.megalith.launcher.train.DistributedTraining;
import io.megalith.launcher.train.Preflight;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code megalith train}: trains (or resumes) the run a config describes. */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Train a model. Reruns with the same run.dir resume from its latest complete checkpoint.")
final class TrainCommand implements Callable<Integer> {
    /** The job run when no --config is given, packaged from conf/. */
    static final String DEFAULT_CONFIG = "conf/addition.yaml";

    @Option(names = {"-c", "--config"}, paramLabel = "FILE", description = "YAML config (default: the built-in "
            + DEFAULT_CONFIG + " job)")
    Path config;

    @Option(names = {"-s", "--set"}, paramLabel = "KEY=VALUE", description = "Override a config key, e.g. "
            + "--set train.max_steps=100 (repeatable)")
    List<String> overrides = new ArrayList<>();

    @Option(names = "--print-config", description = "Print the merged configuration (every key, YAML: defaults, "
            + "then --config, then --set; runtime.workers auto resolved) and exit")
    boolean printConfig;

    @Option(names = "--dry-run", description = "Validate the config and its input files, plan the layout, print the "
            + "world size and a memory estimate per rank, and exit without starting or writing anything")
    boolean dryRun;

    @Override
    public Integer call() throws IOException {
        // init_from a run directory: the model shape the config file leaves unset is the base run's
        MegalithConfig cfg = load(config, config == null ? overrides : BaseShape.overrides(config, overrides));
        PrintStream out = System.out;
        String source = config == null ? DEFAULT_CONFIG : config.toString();
        if (printConfig) {
            out.print(ConfigLoader.toYaml(cfg));
            return 0;
        }
        if (dryRun) {
            Preflight.check(cfg, source, new Configuration());
            DryRun.print(cfg, source, out);
            return 0;
        }
        report(cfg, launch(cfg, source, out), out);
        return 0;
    }

    /**
     * Runs {@code cfg} as its launch.master says (inprocess: one rank here; local: Spark local[world]; a cluster: the
     * spark-submit that started us); {@code source} names the config in errors. {@code megalith finetune} shares it.
     */
    static TrainingRun.Summary launch(MegalithConfig cfg, String source, PrintStream out) throws IOException {
        // missing files fail here, with exit 2, rather than in every rank of every attempt
        Preflight.check(cfg, source, new Configuration());
        org.apache.hadoop.fs.Path runDir = Preflight.resolve(cfg.run().dir());
        FileSystem fs = runDir.getFileSystem(new Configuration());
        boolean fresh = !fs.exists(runDir);
        try {
            return launchChecked(cfg, source, out);
        } catch (ConfigException | InvalidInputException e) {
            if (fresh) { // a run that never could start leaves no run.dir behind (it would look like a run)
                fs.delete(runDir, true);
            }
            throw e;
        }
    }

    private static TrainingRun.Summary launchChecked(MegalithConfig cfg, String source, PrintStream out)
            throws IOException {
        for (String w : cfg.warnings()) {
            out.println("megalith: warning: " + w);
        }
        TrainingRun.Summary s;
        if (INPROCESS.equals(cfg.launch().master())) {
            try (TrainingRun run = ModelFamilies.of(cfg).newInProcessRun(cfg, new Configuration(), out)) {
                s = run.run();
            }
        } else {
            boolean submitted = System.getProperty("spark.master") != null;
            if (!submitted && !"local".equals(cfg.launch().master())) {
                throw new ConfigException(source, "launch.master: '"
                        + cfg.launch().master() + "' is a cluster: start the job with spark-submit (README: \"On a "
                        + "Spark cluster\"), or use local / inprocess");
            }
            s = DistributedTraining.run(cfg, out);
        }
        return s;
    }

    /** launch.master value that trains one rank in this JVM without Spark (debugging, fast tests). */
    static final String INPROCESS = "inprocess";

    static void report(MegalithConfig cfg, TrainingRun.Summary s, PrintStream out) {
        out.println();
        if (s.endStep() > s.startStep()) {
            out.printf("megalith: trained steps %d..%d in %.1f s (%,.0f tokens/s); final train loss %.4f%s%n",
                    s.startStep(), s.endStep(), s.trainSeconds(), s.tokensPerSec(), s.lastLoss(),
                    Double.isNaN(s.valLoss()) ? "" : String.format(", val loss %.4f", s.valLoss()));
        } else {
            out.printf("megalith: nothing left to train; val loss %.4f at step %d%n", s.valLoss(), s.endStep());
        }
        // classifiers (and images: the ViT's held-out accuracy; a DiT has none) report their own lines
        if (cfg.classification() || cfg.images()) {
            s.samples().forEach(line -> out.println("megalith: " + line));
            reportLora(cfg, s, out);
            out.printf("megalith: run directory %s (metrics.jsonl, loss.png, checkpoints/)%n", cfg.run().dir());
            return;
        }
        if (s.exactMatch() != null) {
            if ("pairs".equals(cfg.data().task()) && ModelFamilies.of(cfg).promptAnswerPairs()) {
                out.printf("megalith: exact match on (up to %d) held-out pairs: %.1f%%%n", cfg.data().evalPairs(),
                        s.exactMatch() * 100);
            } else {
                out.printf("megalith: exact match on %d held-out problems: %.1f%%%n", cfg.data().evalPairs(),
                        s.exactMatch() * 100);
            }
        }
        if (!s.samples().isEmpty()) {
            out.println("megalith: samples:");
            for (String sample : s.samples()) {
                if (sample.contains("\n")) { // generated text: separate the samples
                    out.println(sample.endsWith("\n") ? sample + "---" : sample + "\n---");
                } else {
                    out.println(sample);
                }
            }
        }
        reportLora(cfg, s, out);
        out.printf("megalith: run directory %s (metrics.jsonl, loss.png, checkpoints/)%n", cfg.run().dir());
    }

    /** A LoRA run's adapters.safetensors and merged.safetensors, with the difference recorded in the former. */
    private static void reportLora(MegalithConfig cfg, TrainingRun.Summary s, PrintStream out) {
        if (!cfg.finetune().loraConfig().enabled() || s.endStep() < cfg.train().maxSteps()) {
            return;
        }
        String diff;
        try {
            diff = LoraOutputs.adapterMetadata(cfg.run().dir(), new Configuration())
                    .getOrDefault(LoraOutputs.MERGED_DIFF, "?");
        } catch (IOException e) {
            diff = "? (" + e.getMessage() + ")";
        }
        out.printf("megalith: LoRA adapters in %s/%s, merged into a plain %s in %s/%s (max |logit diff| of merged "
                + "vs base + adapters: %s)%n", cfg.run().dir(), LoraOutputs.ADAPTERS_FILE,
                ModelFamilies.of(cfg).modelName(), cfg.run().dir(),
                LoraOutputs.MERGED_FILE, diff);
    }

    static MegalithConfig load(Path config, List<String> overrides) throws IOException {
        if (config != null) {
            ConfigLoader.requireKeys(config); // an empty file would train the defaults unasked
            return ConfigLoader.load(config, overrides);
        }
        try (InputStream in = TrainCommand.class.getClassLoader().getResourceAsStream(DEFAULT_CONFIG)) {
            if (in == null) {
                throw new IOException("the default config " + DEFAULT_CONFIG + " is missing from the classpath");
            }
            return ConfigLoader.fromYaml(new String(in.readAllBytes(), StandardCharsets.UTF_8), overrides,
                    DEFAULT_CONFIG + " (built-in)");
        }
    }
}
