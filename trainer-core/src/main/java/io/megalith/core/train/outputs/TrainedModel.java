package io.megalith.core.train.outputs;

import ai.djl.ndarray.NDManager;
import io.megalith.core.checkpoint.CheckpointStore;
import io.megalith.core.checkpoint.LoadedCheckpoint;
import io.megalith.core.checkpoint.RunState;
import io.megalith.core.checkpoint.RunStateCodec;
import io.megalith.core.checkpoint.ShardedCheckpointer;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.tokenizer.Tokenizer;
import io.megalith.core.data.tokenizer.Tokenizers;
import io.megalith.core.model.Gpt;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.Torch;
import java.io.IOException;
import java.util.List;
import org.apache.hadoop.conf.Configuration;

/** A model and tokenizer loaded from the latest complete checkpoint of a run directory, for inference. */
public final class TrainedModel implements AutoCloseable {
    private final MegalithConfig config;
    private final RunState state;
    private final Tokenizer tokenizer;
    private final NDManager manager;
    private final Gpt model;

    private TrainedModel(MegalithConfig config, RunState state, Tokenizer tokenizer, NDManager manager, Gpt model) {
        this.config = config;
        this.state = state;
        this.tokenizer = tokenizer;
        this.manager = manager;
        this.model = model;
    }

    public static TrainedModel load(String runDir, Configuration hadoop, int threads) throws IOException {
        Torch.load(threads);
        LoadedCheckpoint ckpt = new CheckpointStore(runDir, hadoop, 0).loadLatest()
                .orElseThrow(() -> new IOException("no complete checkpoint in " + runDir + "/checkpoints"));
        byte[] kryo = ckpt.blobFiles().get(RunStateCodec.FILE);
        RunState state = kryo != null ? RunStateCodec.decode(kryo)
                : RunState.fromJson(ckpt.blobFiles().get(ShardedCheckpointer.LEGACY_STATE_FILE));
        if (state.model() == null) {
            throw new IOException(runDir + " holds a model.family " + state.family() + " checkpoint ("
                    + state.familyModel() + "), not a GPT's");
        }
        MegalithConfig cfg = ConfigLoader.fromYaml(state.configYaml(), List.of(), runDir + " (saved config)");
        Tokenizer tok = Tokenizers.fromBytes(ckpt.blobFiles().get(ShardedCheckpointer.TOKENIZER_FILE));
        NDManager manager = Torch.newManager();
        // a LoRA fine-tune's checkpoint holds its adapters: build the model with them (its saved finetune section)
        Gpt model = new Gpt(state.model(), cfg.finetune().loraConfig());
        ParameterStore params = new ParameterStore(model, manager, state.seed());
        model.initConstants(manager);
        params.load(ckpt.tensorFiles().get(ShardedCheckpointer.MODEL));
        return new TrainedModel(cfg, state, tok, manager, model);
    }

    public MegalithConfig config() {
        return config;
    }

    public long step() {
        return state.step();
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    public Gpt model() {
        return model;
    }

    public NDManager manager() {
        return manager;
    }

    @Override
    public void close() {
        tokenizer.close();
        manager.close();
    }
}
