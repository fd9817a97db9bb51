package io.megalith.examples;

import ai.djl.ndarray.NDManager;
import io.megalith.core.family.bert.speakers.SpeakerConfig;
import io.megalith.core.family.bert.speakers.SpeakerExperiment;
import io.megalith.core.tensor.Torch;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The encoder family end to end (see conf/bert-shakespeare-speakers.yaml): pre-train a character-level BERT
 * (MLM + NSP) on tinyshakespeare, fine-tune it to tell who speaks a line, and compare with training from
 * scratch, LoRA fine-tuning and the majority class, each stage a training run of the bert family (in process, one
 * rank, as {@code megalith train} runs it). The same as {@code megalith finetune}.
 * {@code BertShakespeareSpeakers [conf/bert-shakespeare-speakers.yaml] [section.key=value ...]}
 */
public final class BertShakespeareSpeakers {
    private BertShakespeareSpeakers() {}

    public static void main(String[] args) throws Exception {
        Path config = Path.of(args.length > 0 ? args[0] : "conf/bert-shakespeare-speakers.yaml");
        List<String> overrides = args.length > 1 ? List.of(args).subList(1, args.length) : List.of();
        SpeakerConfig.Loaded cfg = SpeakerConfig.load(config, overrides);
        Torch.load(cfg.threads());
        try (NDManager manager = Torch.newManager()) {
            List<SpeakerExperiment.Outcome> outcomes = SpeakerExperiment.run(cfg.settings(), Files.readString(cfg.data()),
                    manager, System.out);
            System.out.println();
            System.out.print(SpeakerExperiment.table(outcomes));
        }
    }
}
