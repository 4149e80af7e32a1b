"""Models people bring, built from their constructors with tiny configurations and seeded random weights (no
downloads): KerasHub task models, keras.applications, and models written as in the official Keras examples.

Each builder returns a ``Case``: the model, inputs as the model's own ``predict`` takes them, and labels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

N = 8  # samples per case: enough for every tab, few enough to walk quickly


@dataclass
class Case:
    name: str
    model: keras.Model
    x: Any
    y: Any = None
    loss: Any = None  # a loss of the model's own, as explore(loss=) takes it


def _tokens(rng: np.random.Generator, vocab: int, length: int, pad_from: int | None = None) -> dict[str, np.ndarray]:
    ids = rng.integers(5, vocab, size=(N, length)).astype("int32")
    mask = np.ones((N, length), "int32")
    if pad_from is not None:
        ids[:, pad_from:], mask[:, pad_from:] = 0, 0
    return {"token_ids": ids, "padding_mask": mask}


def bert_classifier() -> Case:
    import keras_hub

    keras.utils.set_random_seed(1)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=60, num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32, max_sequence_length=12
    )
    model = keras_hub.models.BertTextClassifier(backbone=backbone, num_classes=3, preprocessor=None)
    x = _tokens(np.random.default_rng(1), 60, 12, pad_from=9)
    x["segment_ids"] = np.zeros((N, 12), "int32")
    return Case("BertTextClassifier", model, x, np.arange(N) % 3)


def distilbert_classifier() -> Case:
    import keras_hub

    keras.utils.set_random_seed(2)
    backbone = keras_hub.models.DistilBertBackbone(
        vocabulary_size=60, num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32, max_sequence_length=12
    )
    model = keras_hub.models.DistilBertTextClassifier(backbone=backbone, num_classes=2, preprocessor=None)
    x = _tokens(np.random.default_rng(2), 60, 12, pad_from=10)
    return Case("DistilBertTextClassifier", model, x, np.arange(N) % 2)


def gpt2_causal_lm() -> Case:
    import keras_hub

    keras.utils.set_random_seed(3)
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=60, num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32, max_sequence_length=12
    )
    model = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
    x = _tokens(np.random.default_rng(3), 60, 12, pad_from=10)
    y = np.roll(x["token_ids"], -1, axis=1)
    return Case("GPT2CausalLM", model, x, y)


def vit_classifier() -> Case:
    import keras_hub

    keras.utils.set_random_seed(4)
    backbone = keras_hub.models.ViTBackbone(
        image_shape=(16, 16, 3), patch_size=4, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32
    )
    model = keras_hub.models.ViTImageClassifier(backbone=backbone, num_classes=4, preprocessor=None)
    x = np.random.default_rng(4).random((N, 16, 16, 3), dtype=np.float32)
    return Case("ViTImageClassifier", model, x, np.arange(N) % 4)


def resnet_classifier() -> Case:
    import keras_hub

    keras.utils.set_random_seed(5)
    backbone = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 32],
        stackwise_num_blocks=[1, 1], stackwise_num_strides=[1, 2], block_type="basic_block", image_shape=(16, 16, 3),
    )  # fmt: skip
    model = keras_hub.models.ResNetImageClassifier(backbone=backbone, num_classes=3, preprocessor=None)
    x = np.random.default_rng(5).random((N, 16, 16, 3), dtype=np.float32)
    return Case("ResNetImageClassifier", model, x, np.arange(N) % 3)


def whisper_backbone() -> Case:
    """A speech seq2seq backbone: log-mel features and decoder tokens in, a dict of two sequence outputs out."""
    import keras_hub

    keras.utils.set_random_seed(12)
    model = keras_hub.models.WhisperBackbone(
        vocabulary_size=60, num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32, num_mels=8,
        max_encoder_sequence_length=16, max_decoder_sequence_length=6,
    )  # fmt: skip
    rng = np.random.default_rng(12)
    x = {
        "encoder_features": rng.normal(size=(N, 16, 8)).astype("float32"),
        "decoder_token_ids": rng.integers(5, 60, size=(N, 6)).astype("int32"),
        "decoder_padding_mask": np.ones((N, 6), "int32"),
    }
    return Case("WhisperBackbone", model, x)


def t5_seq2seq() -> Case:
    """A text seq2seq task model: encoder and decoder tokens with their padding masks in, next-token logits out."""
    import keras_hub

    keras.utils.set_random_seed(13)
    backbone = keras_hub.models.T5Backbone(
        vocabulary_size=60, num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32, key_value_dim=8
    )
    model = keras_hub.models.T5Seq2SeqLM(backbone=backbone, preprocessor=None)
    rng = np.random.default_rng(13)
    enc = _tokens(rng, 60, 10, pad_from=8)
    dec = _tokens(rng, 60, 6, pad_from=5)
    x = {
        "encoder_token_ids": enc["token_ids"],
        "encoder_padding_mask": enc["padding_mask"],
        "decoder_token_ids": dec["token_ids"],
        "decoder_padding_mask": dec["padding_mask"],
    }
    return Case("T5Seq2SeqLM", model, x, np.roll(dec["token_ids"], -1, axis=1))


# ------------------------------------------------------------------------- with their own preprocessors
TEXTS = [
    "the cat sat on the mat", "a dog ran in the park", "the bird sang", "cats and dogs play",
    "the sun is hot", "a red ball", "the mat is red", "dogs run fast",
] * 2  # fmt: skip


def bert_with_preprocessor() -> tuple[keras.Model, list[str], np.ndarray]:
    """A BERT text classifier that takes raw strings: its preprocessor has a WordPiece vocabulary of the texts'
    words. Returns (classifier, texts, labels)."""
    import keras_hub

    keras.utils.set_random_seed(14)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted({w for t in TEXTS for w in t.split()})]
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        tokenizer=keras_hub.tokenizers.BertTokenizer(vocabulary=vocab), sequence_length=10
    )
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocab), num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16, max_sequence_length=10
    )
    model = keras_hub.models.BertTextClassifier(backbone=backbone, num_classes=2, preprocessor=preprocessor)
    return model, TEXTS, np.arange(len(TEXTS)) % 2


def gpt2_with_preprocessor() -> tuple[keras.Model, list[str]]:
    """A GPT-2 causal LM that takes raw strings: its byte-pair tokenizer has one token per character (and one
    merge). Returns (causal LM, texts)."""
    import keras_hub

    keras.utils.set_random_seed(15)
    chars = sorted({c for t in TEXTS for c in t.replace(" ", "\u0120")})  # GPT-2 writes a space as U+0120
    vocabulary = {"<|endoftext|>": 0, **{c: i + 1 for i, c in enumerate(chars)}, "\u0120t": len(chars) + 1}
    tokenizer = keras_hub.tokenizers.GPT2Tokenizer(vocabulary=vocabulary, merges=["\u0120 t"])
    preprocessor = keras_hub.models.GPT2CausalLMPreprocessor(tokenizer=tokenizer, sequence_length=24)
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=len(vocabulary), num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16,
        max_sequence_length=24,
    )  # fmt: skip
    return keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=preprocessor), TEXTS


def application(name: str, size: int = 32) -> Callable[[], Case]:
    def build() -> Case:
        keras.utils.set_random_seed(6)
        constructor = getattr(keras.applications, name)
        model = constructor(weights=None, input_shape=(size, size, 3), classes=5)
        x = np.random.default_rng(6).random((N, size, size, 3), dtype=np.float32)
        return Case(name, model, x, np.arange(N) % 5)

    return build


ZOO: dict[str, Callable[[], Case]] = {
    "bert": bert_classifier,
    "distilbert": distilbert_classifier,
    "gpt2": gpt2_causal_lm,
    "vit": vit_classifier,
    "resnet": resnet_classifier,
    "mobilenetv3": application("MobileNetV3Small"),
    "efficientnetv2": application("EfficientNetV2B0"),
    "densenet": application("DenseNet121"),
    "convnext": application("ConvNeXtTiny"),
    "inception": application("InceptionV3", size=75),
    "whisper": whisper_backbone,
    "t5": t5_seq2seq,
}


# --------------------------------------------------------------------------------------------- Keras examples
class TokenAndPositionEmbedding(keras.layers.Layer):
    """As in the Keras example "Text classification with Transformer"."""

    def __init__(self, maxlen: int, vocab_size: int, embed_dim: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.token_emb = keras.layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.pos_emb = keras.layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

    def call(self, x: Any) -> Any:
        maxlen = keras.ops.shape(x)[-1]
        positions = self.pos_emb(keras.ops.arange(start=0, stop=maxlen, step=1))
        return self.token_emb(x) + positions


class TransformerBlock(keras.layers.Layer):
    """As in the Keras example "Text classification with Transformer"."""

    def __init__(self, embed_dim: int, num_heads: int, ff_dim: int, rate: float = 0.1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.att = keras.layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.ffn = keras.Sequential([keras.layers.Dense(ff_dim, activation="relu"), keras.layers.Dense(embed_dim)])
        self.layernorm1 = keras.layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = keras.layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = keras.layers.Dropout(rate)
        self.dropout2 = keras.layers.Dropout(rate)

    def call(self, inputs: Any, training: bool = False) -> Any:
        attn_output = self.att(inputs, inputs)
        attn_output = self.dropout1(attn_output, training=training)
        out1 = self.layernorm1(inputs + attn_output)
        ffn_output = self.dropout2(self.ffn(out1), training=training)
        return self.layernorm2(out1 + ffn_output)


def transformer_text_example() -> Case:
    keras.utils.set_random_seed(7)
    maxlen, vocab = 10, 50
    inputs = keras.layers.Input(shape=(maxlen,))  # float, as in the example: the ids feed an Embedding
    x = TokenAndPositionEmbedding(maxlen, vocab, 8)(inputs)
    x = TransformerBlock(8, 2, 16)(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    x = keras.layers.Dropout(0.1)(x)
    x = keras.layers.Dense(12, activation="relu")(x)
    x = keras.layers.Dropout(0.1)(x)
    outputs = keras.layers.Dense(2, activation="softmax")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x_data = np.random.default_rng(7).integers(1, vocab, size=(N, maxlen)).astype("float32")
    return Case("transformer text classifier (Keras example)", model, x_data, np.arange(N) % 2)


class Patches(keras.layers.Layer):
    """As in the Keras example "Image classification with Vision Transformer"."""

    def __init__(self, patch_size: int) -> None:
        super().__init__()
        self.patch_size = patch_size

    def call(self, images: Any) -> Any:
        shape = keras.ops.shape(images)
        patches = keras.ops.image.extract_patches(images, size=self.patch_size)
        n = (shape[1] // self.patch_size) * (shape[2] // self.patch_size)
        return keras.ops.reshape(patches, (shape[0], n, self.patch_size * self.patch_size * shape[-1]))


class PatchEncoder(keras.layers.Layer):
    """As in the Keras example "Image classification with Vision Transformer"."""

    def __init__(self, num_patches: int, projection_dim: int) -> None:
        super().__init__()
        self.num_patches = num_patches
        self.projection = keras.layers.Dense(units=projection_dim)
        self.position_embedding = keras.layers.Embedding(input_dim=num_patches, output_dim=projection_dim)

    def call(self, patch: Any) -> Any:
        positions = keras.ops.expand_dims(keras.ops.arange(start=0, stop=self.num_patches, step=1), axis=0)
        return self.projection(patch) + self.position_embedding(positions)


def vit_example() -> Case:
    keras.utils.set_random_seed(8)
    image, patch, dim, classes = 16, 4, 8, 3
    inputs = keras.Input(shape=(image, image, 3))
    encoded = PatchEncoder((image // patch) ** 2, dim)(Patches(patch)(inputs))
    for _ in range(2):
        x1 = keras.layers.LayerNormalization(epsilon=1e-6)(encoded)
        attention = keras.layers.MultiHeadAttention(num_heads=2, key_dim=dim, dropout=0.1)(x1, x1)
        x2 = keras.layers.Add()([attention, encoded])
        x3 = keras.layers.LayerNormalization(epsilon=1e-6)(x2)
        x3 = keras.layers.Dense(dim * 2, activation=keras.activations.gelu)(x3)
        x3 = keras.layers.Dense(dim, activation=keras.activations.gelu)(x3)
        encoded = keras.layers.Add()([x3, x2])
    representation = keras.layers.Flatten()(keras.layers.LayerNormalization(epsilon=1e-6)(encoded))
    features = keras.layers.Dense(16, activation=keras.activations.gelu)(keras.layers.Dropout(0.5)(representation))
    logits = keras.layers.Dense(classes)(features)
    model = keras.Model(inputs=inputs, outputs=logits)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(8).random((N, image, image, 3), dtype=np.float32)
    return Case("ViT (Keras example)", model, x, np.arange(N) % classes)


class Sampling(keras.layers.Layer):
    """As in the Keras example "Variational AutoEncoder": z from (z_mean, z_log_var)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs: Any) -> Any:
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(shape=keras.ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + keras.ops.exp(0.5 * z_log_var) * epsilon


def vae_encoder_example() -> Case:
    keras.utils.set_random_seed(9)
    inputs = keras.Input(shape=(8, 8, 1))
    x = keras.layers.Conv2D(8, 3, activation="relu", strides=2, padding="same")(inputs)
    x = keras.layers.Conv2D(16, 3, activation="relu", strides=2, padding="same")(x)
    x = keras.layers.Dense(16, activation="relu")(keras.layers.Flatten()(x))
    z_mean = keras.layers.Dense(2, name="z_mean")(x)
    z_log_var = keras.layers.Dense(2, name="z_log_var")(x)
    z = Sampling()([z_mean, z_log_var])
    model = keras.Model(inputs, [z_mean, z_log_var, z], name="encoder")
    return Case("VAE encoder (Keras example)", model, np.random.default_rng(9).random((N, 8, 8, 1), dtype=np.float32))


def _vae_decoder() -> keras.Model:
    latent_inputs = keras.Input(shape=(2,))
    x = keras.layers.Dense(2 * 2 * 16, activation="relu")(latent_inputs)
    x = keras.layers.Reshape((2, 2, 16))(x)
    x = keras.layers.Conv2DTranspose(16, 3, activation="relu", strides=2, padding="same")(x)
    x = keras.layers.Conv2DTranspose(8, 3, activation="relu", strides=2, padding="same")(x)
    outputs = keras.layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(x)
    return keras.Model(latent_inputs, outputs, name="decoder")


def vae_decoder_example() -> Case:
    keras.utils.set_random_seed(16)
    z = np.random.default_rng(16).normal(size=(N, 2)).astype("float32")
    return Case("VAE decoder (Keras example)", _vae_decoder(), z)


class VAE(keras.Model):
    """As in the Keras example "Variational AutoEncoder": no call(), a train_step with its own loss."""

    def __init__(self, encoder: keras.Model, decoder: keras.Model, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")

    @property
    def metrics(self) -> list[Any]:
        return [self.total_loss_tracker]

    def train_step(self, data: Any) -> dict[str, Any]:
        import tensorflow as tf

        with tf.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder(data)
            reconstruction = self.decoder(z)
            loss = keras.ops.mean(keras.ops.sum(keras.losses.binary_crossentropy(data, reconstruction), axis=(1, 2)))
            kl = -0.5 * (1 + z_log_var - keras.ops.square(z_mean) - keras.ops.exp(z_log_var))
            total = loss + keras.ops.mean(keras.ops.sum(kl, axis=1))
        grads = tape.gradient(total, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.total_loss_tracker.update_state(total)
        return {"loss": self.total_loss_tracker.result()}


def vae_example() -> tuple[VAE, np.ndarray]:
    """The whole VAE (compiled with an optimizer only, as in the example) and images to fit it on."""
    vae = VAE(vae_encoder_example().model, _vae_decoder())
    vae.compile(optimizer="adam")
    return vae, np.random.default_rng(17).random((16, 8, 8, 1), dtype=np.float32)


def bidirectional_lstm_example() -> Case:
    keras.utils.set_random_seed(10)
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(40, 8)(inputs)
    x = keras.layers.Bidirectional(keras.layers.LSTM(8, return_sequences=True))(x)
    x = keras.layers.Bidirectional(keras.layers.LSTM(8))(x)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    x_data = np.random.default_rng(10).integers(1, 40, size=(N, 12)).astype("int32")
    return Case("bidirectional LSTM (Keras example)", model, x_data, np.arange(N) % 2)


def structured_data_example() -> Case:
    """As in "Structured data classification with FeatureSpace": the inference model takes a dict of raw
    features, strings and integers among them, with the FeatureSpace preprocessing inside."""
    keras.utils.set_random_seed(11)
    rng = np.random.default_rng(11)
    raw = {
        "age": rng.integers(20, 70, 40).astype("float32"),
        "sex": rng.integers(0, 2, 40).astype("int64"),
        "thal": rng.choice(["fixed", "normal", "reversible"], 40).astype(object),  # as from a pandas column
    }
    feature_space = keras.utils.FeatureSpace(
        features={
            "age": keras.utils.FeatureSpace.float_normalized(),
            "sex": keras.utils.FeatureSpace.integer_categorical(num_oov_indices=0),
            "thal": keras.utils.FeatureSpace.string_categorical(num_oov_indices=0),
        },
        output_mode="concat",
    )
    import tensorflow as tf

    feature_space.adapt(tf.data.Dataset.from_tensor_slices(raw).batch(8))
    encoded_inputs = feature_space.get_encoded_features()
    x = keras.layers.Dense(8, activation="relu")(encoded_inputs)
    output = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Dropout(0.5)(x))
    training_model = keras.Model(inputs=encoded_inputs, outputs=output)
    training_model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model = keras.Model(inputs=feature_space.get_inputs(), outputs=training_model(encoded_inputs))
    x_data = {key: value[:N] for key, value in raw.items()}
    return Case("structured data with FeatureSpace (Keras example)", model, x_data, np.arange(N) % 2)


class CallableVAE(VAE):
    """A VAE that also defines call() (the decoder on the encoded mean), as many variants of the example
    do: explorable, but still trained by its own train_step on a loss fit never compiled."""

    def call(self, inputs: Any) -> Any:
        return self.decoder(self.encoder(inputs)[0])  # from z_mean: the same image on every call


def vae_loss(images: Any, reconstruction: Any) -> Any:
    """The VAE example's reconstruction term, per sample (the KL term needs the encoder's outputs)."""
    return keras.ops.sum(keras.losses.binary_crossentropy(images, reconstruction), axis=(1, 2))


def vae_call_example() -> Case:
    keras.utils.set_random_seed(18)
    vae = CallableVAE(vae_encoder_example().model, _vae_decoder())
    vae.compile(optimizer="adam")
    images = np.random.default_rng(18).random((N, 8, 8, 1), dtype=np.float32)
    vae(images[:1])
    return Case("VAE with call() and its own train_step", vae, images, images, loss=vae_loss)


def autoencoder_example() -> Case:
    """As in the Keras example "Convolutional autoencoder for image denoising": fit(x, x), a sigmoid image out."""
    keras.utils.set_random_seed(19)
    inputs = keras.Input(shape=(8, 8, 1))
    x = keras.layers.Conv2D(8, (3, 3), activation="relu", padding="same")(inputs)
    x = keras.layers.MaxPooling2D((2, 2), padding="same")(x)
    x = keras.layers.Conv2DTranspose(8, (3, 3), strides=2, activation="relu", padding="same")(x)
    outputs = keras.layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    images = np.random.default_rng(19).random((N, 8, 8, 1), dtype=np.float32)
    return Case("convolutional autoencoder (Keras example)", model, images, images)


def tied_embedding_example() -> Case:
    """An Embedding called inside a nested model and again by the outer one (weight tying, as GPT-2's head)."""
    keras.utils.set_random_seed(20)
    embedding = keras.layers.Embedding(30, 8, name="shared_embedding")
    tokens = keras.Input((6,), dtype="int32")
    inner = keras.Model(tokens, keras.layers.Dense(8, activation="relu")(embedding(tokens)), name="encoder")
    outer_tokens = keras.Input((6,), dtype="int32")
    mixed = keras.layers.Add()([inner(outer_tokens), embedding(outer_tokens)])
    pooled = keras.layers.GlobalAveragePooling1D()(mixed)
    model = keras.Model(outer_tokens, keras.layers.Dense(3, activation="softmax")(pooled))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(20).integers(0, 30, (N, 6)).astype("int32")
    return Case("tied embedding in a nested model", model, x, np.arange(N) % 3)


ZOO.update(
    {
        "autoencoder": autoencoder_example,
        "vae_call": vae_call_example,
        "tied": tied_embedding_example,
        "transformer_text": transformer_text_example,
        "vit_example": vit_example,
        "vae_encoder": vae_encoder_example,
        "vae_decoder": vae_decoder_example,
        "bilstm": bidirectional_lstm_example,
        "structured": structured_data_example,
    }
)
