package io.megalith.launcher.cli;

import ai.djl.ndarray.NDManager;
import io.megalith.core.finetune.SpeakerConfig;
import io.megalith.core.finetune.SpeakerExperiment;
import io.megalith.core.tensor.Torch;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code megalith finetune}: the encoder family's pre-train / fine-tune pipeline on one rank (model.family bert):
 * pre-train (or load run.pretrained), then fine-tune a sequence classifier fully (finetune.freeze: frozen name
 * prefixes) and with LoRA adapters (finetune.lora), against training from scratch and the majority class.
 */
@Command(name = "finetune", mixinStandardHelpOptions = true,
        description = "Pre-train and fine-tune a BERT classifier (full, frozen layers, LoRA) on one rank.")
final class FinetuneCommand implements Callable<Integer> {
    static final String DEFAULT_CONFIG = "conf/bert-shakespeare-speakers.yaml";

    @Option(names = {"-c", "--config"}, paramLabel = "FILE", description = "YAML config (default: " + DEFAULT_CONFIG + ")")
    Path config = Path.of(DEFAULT_CONFIG);

    @Option(names = {"-s", "--set"}, paramLabel = "KEY=VALUE", description = "Override a config key, e.g. "
            + "--set finetune.steps=100 (repeatable)")
    List<String> overrides = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        SpeakerConfig.Loaded cfg = SpeakerConfig.load(config, overrides);
        Torch.load(cfg.threads());
        try (NDManager manager = Torch.newManager()) {
            List<SpeakerExperiment.Outcome> outcomes = SpeakerExperiment.run(cfg.settings(), Files.readString(cfg.data()),
                    manager, System.out);
            System.out.println();
            System.out.print(SpeakerExperiment.table(outcomes));
        }
        return 0;
    }
}
