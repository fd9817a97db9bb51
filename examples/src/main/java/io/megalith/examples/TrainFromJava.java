package io.megalith.examples;

import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.family.ModelFamilies;
import io.megalith.core.train.TrainingRun;
import java.nio.file.Path;
import java.util.List;
import org.apache.hadoop.conf.Configuration;

/**
 * Training from Java instead of the command line: load a config, override a few keys, run, and use
 * the summary, for any model.family. {@code TrainFromJava [conf/addition.yaml] [key=value ...]}
 */
public final class TrainFromJava {
    private TrainFromJava() {}

    public static void main(String[] args) throws Exception {
        Path config = Path.of(args.length > 0 ? args[0] : "conf/addition.yaml");
        List<String> overrides = args.length > 1 ? List.of(args).subList(1, args.length) : List.of();
        MegalithConfig cfg = ConfigLoader.load(config, overrides);
        try (TrainingRun run = ModelFamilies.of(cfg).newInProcessRun(cfg, new Configuration(), System.out)) {
            TrainingRun.Summary summary = run.run();
            System.out.printf("steps %d..%d, final loss %.4f, val loss %.4f%n", summary.startStep(), summary.endStep(),
                    summary.lastLoss(), summary.valLoss());
            if (summary.exactMatch() != null) {
                System.out.printf("exact match %.1f%%%n", summary.exactMatch() * 100);
            }
            summary.samples().forEach(System.out::println);
        }
    }
}
