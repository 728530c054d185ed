# ruff: noqa: E501, UP031, B007  (the tutorials' code kept as written: long lines, % formats, loop counters)
"""Typical PyTorch training scripts (the official tutorials' and examples' code, on the bundled
digits or random data) run on ember by substituting names: ``import ember as torch``.

Each script is a function of the module it runs on, so the same code can run on PyTorch too
(the parity tests at the end, where it is installed)."""

import importlib
import math
import os
import random
import tempfile

import numpy as np
import pytest

import ember
import ember.nn.functional
import ember.optim.lr_scheduler
import ember.utils.data


def _digits():
    X, y = ember.datasets.load_digits()
    return (X / 16.0).astype(np.float32), y


def _quickstart(torch):
    nn = torch.nn
    tud = importlib.import_module(torch.__name__ + ".utils.data")
    Dataset, DataLoader = tud.Dataset, tud.DataLoader
    torch.manual_seed(0)
    X, y = _digits()

    class Digits(Dataset):
        def __init__(self, X, y, transform=None, target_transform=None):
            self.X, self.y = X, y
            self.transform, self.target_transform = transform, target_transform

        def __len__(self):
            return len(self.y)

        def __getitem__(self, idx):
            image = torch.tensor(self.X[idx]).reshape(1, 8, 8)
            label = int(self.y[idx])
            if self.transform:
                image = self.transform(image)
            if self.target_transform:
                label = self.target_transform(label)
            return image, label

    training_data = Digits(X[:1400], y[:1400])
    test_data = Digits(X[1400:], y[1400:])
    batch_size = 64
    train_dataloader = DataLoader(training_data, batch_size=batch_size, shuffle=True)
    test_dataloader = DataLoader(test_data, batch_size=batch_size)
    for Xb, yb in test_dataloader:
        print(f"Shape of X [N, C, H, W]: {Xb.shape}")
        print(f"Shape of y: {yb.shape} {yb.dtype}")
        break
    device = (
        torch.accelerator.current_accelerator().type
        if hasattr(torch, "accelerator") and torch.accelerator.is_available()
        else "cpu"
    )
    print(f"Using {device} device")

    class NeuralNetwork(nn.Module):
        def __init__(self):
            super().__init__()
            self.flatten = nn.Flatten()
            self.linear_relu_stack = nn.Sequential(
                nn.Linear(8 * 8, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10)
            )

        def forward(self, x):
            x = self.flatten(x)
            logits = self.linear_relu_stack(x)
            return logits

    model = NeuralNetwork().to(device)
    print(model)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.3)

    def train(dataloader, model, loss_fn, optimizer):
        size = len(dataloader.dataset)
        model.train()
        for batch, (X, y) in enumerate(dataloader):
            X, y = X.to(device), y.to(device)
            pred = model(X)
            loss = loss_fn(pred, y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            if batch % 10 == 0:
                loss, current = loss.item(), (batch + 1) * len(X)
                print(f"loss: {loss:>7f}  [{current:>5d}/{size:>5d}]")

    def test(dataloader, model, loss_fn):
        size = len(dataloader.dataset)
        num_batches = len(dataloader)
        model.eval()
        test_loss, correct = 0, 0
        with torch.no_grad():
            for X, y in dataloader:
                X, y = X.to(device), y.to(device)
                pred = model(X)
                test_loss += loss_fn(pred, y).item()
                correct += (pred.argmax(1) == y).type(torch.float).sum().item()
        test_loss /= num_batches
        correct /= size
        print(f"Test Error: \n Accuracy: {(100 * correct):>0.1f}%, Avg loss: {test_loss:>8f} \n")
        return test_loss, correct

    first = test(test_dataloader, model, loss_fn)
    epochs = 8
    for t in range(epochs):
        print(f"Epoch {t + 1}\n-------------------------------")
        train(train_dataloader, model, loss_fn, optimizer)
    last = test(test_dataloader, model, loss_fn)
    assert last[0] < first[0] and last[1] > 0.8, (first, last)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.pth")
        torch.save(model.state_dict(), path)
        model2 = NeuralNetwork().to(device)
        model2.load_state_dict(torch.load(path, weights_only=True))
        model2.eval()
        x, yy = test_data[0][0], test_data[0][1]
        with torch.no_grad():
            x = x.to(device)
            pred = model2(x)
            p1 = model(x)
            assert torch.equal(pred, p1)
            predicted = pred[0].argmax(0)
            print(f'Predicted: "{predicted}", Actual: "{yy}"')
    return last


def _mnist(torch):
    nn = torch.nn
    F = torch.nn.functional
    optim = torch.optim
    StepLR = torch.optim.lr_scheduler.StepLR
    tud = importlib.import_module(torch.__name__ + ".utils.data")

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 8, 3, 1)
            self.conv2 = nn.Conv2d(8, 16, 3, 1)
            self.dropout1 = nn.Dropout(0.25)
            self.dropout2 = nn.Dropout(0.5)
            self.fc1 = nn.Linear(64, 32)
            self.fc2 = nn.Linear(32, 10)

        def forward(self, x):
            x = self.conv1(x)
            x = F.relu(x)
            x = self.conv2(x)
            x = F.relu(x)
            x = F.max_pool2d(x, 2)
            x = self.dropout1(x)
            x = torch.flatten(x, 1)
            x = self.fc1(x)
            x = F.relu(x)
            x = self.dropout2(x)
            x = self.fc2(x)
            output = F.log_softmax(x, dim=1)
            return output

    def train(args, model, device, train_loader, optimizer, epoch):
        model.train()
        for batch_idx, (data, target) in enumerate(train_loader):
            data, target = data.to(device), target.to(device)
            optimizer.zero_grad()
            output = model(data)
            loss = F.nll_loss(output, target)
            loss.backward()
            optimizer.step()
            if batch_idx % args["log_interval"] == 0:
                print(
                    f"Train Epoch: {epoch} [{batch_idx * len(data)}/{len(train_loader.dataset)} ({100.0 * batch_idx / len(train_loader):.0f}%)]\tLoss: {loss.item():.6f}"
                )

    def test(model, device, test_loader):
        model.eval()
        test_loss = 0
        correct = 0
        with torch.no_grad():
            for data, target in test_loader:
                data, target = data.to(device), target.to(device)
                output = model(data)
                test_loss += F.nll_loss(output, target, reduction="sum").item()
                pred = output.argmax(dim=1, keepdim=True)
                correct += pred.eq(target.view_as(pred)).sum().item()
        test_loss /= len(test_loader.dataset)
        print(
            f"\nTest set: Average loss: {test_loss:.4f}, Accuracy: {correct}/{len(test_loader.dataset)} ({100.0 * correct / len(test_loader.dataset):.0f}%)\n"
        )
        return test_loss, correct / len(test_loader.dataset)

    torch.manual_seed(1)
    use_cuda = torch.cuda.is_available()
    device = torch.device("cuda" if use_cuda else "cpu")
    X, y = _digits()
    X = (X - 0.1307) / 0.3081
    data = torch.from_numpy(X).view(-1, 1, 8, 8)
    target = torch.from_numpy(y)
    train_kwargs = {"batch_size": 64}
    test_kwargs = {"batch_size": 1000}
    train_kwargs.update({"shuffle": True})
    ds1 = tud.TensorDataset(data[:1400], target[:1400])
    ds2 = tud.TensorDataset(data[1400:], target[1400:])
    train_loader = tud.DataLoader(ds1, **train_kwargs)
    test_loader = tud.DataLoader(ds2, **test_kwargs)
    model = Net().to(device)
    optimizer = optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
    first = test(model, device, test_loader)
    for epoch in range(1, 6):
        train({"log_interval": 10}, model, device, train_loader, optimizer, epoch)
        last = test(model, device, test_loader)
        scheduler.step()
    assert abs(optimizer.param_groups[0]["lr"] - 0.7**5) < 1e-9
    assert scheduler.get_last_lr()[0] == optimizer.param_groups[0]["lr"]
    assert last[0] < first[0] and last[1] > 0.8, (first, last)
    return last


def _cifar(torch):
    nn = torch.nn
    F = torch.nn.functional
    optim = torch.optim
    torch.manual_seed(0)
    X, y = _digits()
    images = torch.from_numpy(X).reshape(-1, 1, 8, 8).repeat(1, 3, 1, 1)
    labels_all = torch.as_tensor(y)
    classes = tuple(str(i) for i in range(10))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
            self.pool = nn.MaxPool2d(2, 2)
            self.conv2 = nn.Conv2d(6, 16, 3, padding=1)
            self.fc1 = nn.Linear(16 * 2 * 2, 60)
            self.fc2 = nn.Linear(60, 42)
            self.fc3 = nn.Linear(42, 10)

        def forward(self, x):
            x = self.pool(F.relu(self.conv1(x)))
            x = self.pool(F.relu(self.conv2(x)))
            x = torch.flatten(x, 1)  # flatten all dimensions except batch
            x = F.relu(self.fc1(x))
            x = F.relu(self.fc2(x))
            x = self.fc3(x)
            return x

    net = Net()
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    trainloader = [(images[i : i + 32], labels_all[i : i + 32]) for i in range(0, 1400, 32)]
    testloader = [(images[i : i + 100], labels_all[i : i + 100]) for i in range(1400, 1797, 100)]
    losses = []
    for epoch in range(8):
        running_loss = 0.0
        for i, data in enumerate(trainloader, 0):
            inputs, labels = data
            optimizer.zero_grad()
            outputs = net(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
            if i % 20 == 19:
                print(f"[{epoch + 1}, {i + 1:5d}] loss: {running_loss / 20:.3f}")
                losses.append(running_loss / 20)
                running_loss = 0.0
    correct = 0
    total = 0
    correct_pred = {classname: 0 for classname in classes}
    total_pred = {classname: 0 for classname in classes}
    with torch.no_grad():
        for data in testloader:
            images_b, labels = data
            outputs = net(images_b)
            _, predicted = torch.max(outputs.data, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
            for label, prediction in zip(labels, predicted):
                if label == prediction:
                    correct_pred[classes[label]] += 1
                total_pred[classes[label]] += 1
    print(f"Accuracy of the network on the test images: {100 * correct // total} %")
    for classname, correct_count in correct_pred.items():
        accuracy = 100 * float(correct_count) / total_pred[classname]
        print(f"Accuracy for class: {classname:5s} is {accuracy:.1f} %")
    assert losses[-1] < losses[0] and correct / total > 0.6, (losses, correct / total)
    assert isinstance(total, int) and isinstance(correct, int)
    return losses[-1]


def _char_rnn(torch):
    nn = torch.nn
    import string
    import unicodedata

    torch.manual_seed(0)
    random.seed(0)
    all_letters = string.ascii_letters + " .,;'"
    n_letters = len(all_letters)

    def unicodeToAscii(s):
        return "".join(
            c
            for c in unicodedata.normalize("NFD", s)
            if unicodedata.category(c) != "Mn" and c in all_letters
        )

    category_lines = {
        "English": ["Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson"],
        "Italian": [
            "Rossi",
            "Russo",
            "Ferrari",
            "Esposito",
            "Bianchi",
            "Romano",
            "Colombo",
            "Ricci",
        ],
        "Japanese": [
            "Satou",
            "Suzuki",
            "Takahashi",
            "Tanaka",
            "Watanabe",
            "Itou",
            "Yamamoto",
            "Nakamura",
        ],
    }
    all_categories = list(category_lines)
    n_categories = len(all_categories)
    assert unicodeToAscii("Ślusàrski") == "Slusarski"

    def letterToIndex(letter):
        return all_letters.find(letter)

    def lineToTensor(line):
        tensor = torch.zeros(len(line), 1, n_letters)
        for li, letter in enumerate(line):
            tensor[li][0][letterToIndex(letter)] = 1
        return tensor

    assert lineToTensor("Jones").size() == torch.Size([5, 1, n_letters])

    class RNN(nn.Module):
        def __init__(self, input_size, hidden_size, output_size):
            super().__init__()
            self.rnn = nn.GRU(input_size, hidden_size)
            self.h2o = nn.Linear(hidden_size, output_size)
            self.softmax = nn.LogSoftmax(dim=1)
            self.hidden_size = hidden_size

        def forward(self, line_tensor):
            h0 = torch.zeros(1, 1, self.hidden_size)
            rnn_out, hidden = self.rnn(line_tensor, h0)
            output = self.h2o(hidden[0])
            output = self.softmax(output)
            return output

    n_hidden = 32
    rnn = RNN(n_letters, n_hidden, n_categories)

    def categoryFromOutput(output):
        top_n, top_i = output.topk(1)
        category_i = top_i[0].item()
        return all_categories[category_i], category_i

    def randomTrainingExample():
        category = random.choice(all_categories)
        line = random.choice(category_lines[category])
        category_tensor = torch.tensor([all_categories.index(category)], dtype=torch.long)
        line_tensor = lineToTensor(line)
        return category, line, category_tensor, line_tensor

    criterion = nn.NLLLoss()
    learning_rate = 0.05
    optimizer = torch.optim.SGD(rnn.parameters(), lr=learning_rate)

    def train(category_tensor, line_tensor):
        rnn.zero_grad()
        output = rnn(line_tensor)
        loss = criterion(output, category_tensor)
        loss.backward()
        nn.utils.clip_grad_norm_(rnn.parameters(), 3)
        optimizer.step()
        return output, loss.item()

    current_loss = 0
    all_losses = []
    for it in range(1, 401):
        category, line, category_tensor, line_tensor = randomTrainingExample()
        output, loss = train(category_tensor, line_tensor)
        current_loss += loss
        if it % 100 == 0:
            guess, guess_i = categoryFromOutput(output)
            correct = "✓" if guess == category else "✗ (%s)" % category
            print("%d %d%% %.4f %s / %s %s" % (it, it / 400 * 100, loss, line, guess, correct))
            all_losses.append(current_loss / 100)
            current_loss = 0
    confusion = torch.zeros(n_categories, n_categories)
    with torch.no_grad():
        for cat in all_categories:
            for line in category_lines[cat]:
                output = rnn(lineToTensor(line))
                guess, guess_i = categoryFromOutput(output)
                confusion[all_categories.index(cat)][guess_i] += 1
    for i in range(n_categories):
        confusion[i] = confusion[i] / confusion[i].sum()
    acc = confusion.diag().mean().item()
    print(confusion, acc)
    assert all_losses[-1] < all_losses[0] and acc > 0.5, (all_losses, acc)

    # nn.RNN cell-by-cell, as in the original tutorial
    class RNNCell(nn.Module):
        def __init__(self, input_size, hidden_size, output_size):
            super().__init__()
            self.hidden_size = hidden_size
            self.i2h = nn.Linear(input_size + hidden_size, hidden_size)
            self.h2o = nn.Linear(hidden_size, output_size)
            self.softmax = nn.LogSoftmax(dim=1)

        def forward(self, input, hidden):
            combined = torch.cat((input, hidden), 1)
            hidden = torch.tanh(self.i2h(combined))
            output = self.softmax(self.h2o(hidden))
            return output, hidden

        def initHidden(self):
            return torch.zeros(1, self.hidden_size)

    r = RNNCell(n_letters, 16, n_categories)
    lt = lineToTensor("Albert")
    hidden = r.initHidden()
    for i in range(lt.size()[0]):
        output, hidden = r(lt[i], hidden)
    loss = criterion(output, torch.LongTensor([1]))
    loss.backward()
    with torch.no_grad():
        for p in r.parameters():
            p.add_(p.grad, alpha=-learning_rate)
    r2 = nn.RNN(n_letters, 16, batch_first=True)
    out, h = r2(lt.transpose(0, 1))
    assert out.shape == (1, 6, 16) and h.shape == (1, 1, 16)
    return all_losses[-1]


def _seq2seq(torch):
    nn = torch.nn
    F = torch.nn.functional
    optim = torch.optim
    torch.manual_seed(0)
    random.seed(0)
    SOS_token, EOS_token = 0, 1
    MAX_LENGTH = 6
    device = torch.device("cpu")
    # toy language: reverse a sequence of tokens 2..9
    pairs = []
    for _ in range(200):
        n = random.randint(2, 4)
        s = [random.randint(2, 9) for _ in range(n)]
        pairs.append((s, s[::-1]))
    n_words = 10

    class EncoderRNN(nn.Module):
        def __init__(self, input_size, hidden_size, dropout_p=0.1):
            super().__init__()
            self.hidden_size = hidden_size
            self.embedding = nn.Embedding(input_size, hidden_size)
            self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True)
            self.dropout = nn.Dropout(dropout_p)

        def forward(self, input):
            embedded = self.dropout(self.embedding(input))
            output, hidden = self.gru(embedded)
            return output, hidden

    class BahdanauAttention(nn.Module):
        def __init__(self, hidden_size):
            super().__init__()
            self.Wa = nn.Linear(hidden_size, hidden_size)
            self.Ua = nn.Linear(hidden_size, hidden_size)
            self.Va = nn.Linear(hidden_size, 1)

        def forward(self, query, keys):
            scores = self.Va(torch.tanh(self.Wa(query) + self.Ua(keys)))
            scores = scores.squeeze(2).unsqueeze(1)
            weights = F.softmax(scores, dim=-1)
            context = torch.bmm(weights, keys)
            return context, weights

    class AttnDecoderRNN(nn.Module):
        def __init__(self, hidden_size, output_size, dropout_p=0.1):
            super().__init__()
            self.embedding = nn.Embedding(output_size, hidden_size)
            self.attention = BahdanauAttention(hidden_size)
            self.gru = nn.GRU(2 * hidden_size, hidden_size, batch_first=True)
            self.out = nn.Linear(hidden_size, output_size)
            self.dropout = nn.Dropout(dropout_p)

        def forward(self, encoder_outputs, encoder_hidden, target_tensor=None):
            batch_size = encoder_outputs.size(0)
            decoder_input = torch.empty(batch_size, 1, dtype=torch.long, device=device).fill_(
                SOS_token
            )
            decoder_hidden = encoder_hidden
            decoder_outputs = []
            attentions = []
            for i in range(MAX_LENGTH):
                decoder_output, decoder_hidden, attn_weights = self.forward_step(
                    decoder_input, decoder_hidden, encoder_outputs
                )
                decoder_outputs.append(decoder_output)
                attentions.append(attn_weights)
                if target_tensor is not None:
                    decoder_input = target_tensor[:, i].unsqueeze(1)  # Teacher forcing
                else:
                    _, topi = decoder_output.topk(1)
                    decoder_input = topi.squeeze(-1).detach()
            decoder_outputs = torch.cat(decoder_outputs, dim=1)
            decoder_outputs = F.log_softmax(decoder_outputs, dim=-1)
            attentions = torch.cat(attentions, dim=1)
            return decoder_outputs, decoder_hidden, attentions

        def forward_step(self, input, hidden, encoder_outputs):
            embedded = self.dropout(self.embedding(input))
            query = hidden.permute(1, 0, 2)
            context, attn_weights = self.attention(query, encoder_outputs)
            input_gru = torch.cat((embedded, context), dim=2)
            output, hidden = self.gru(input_gru, hidden)
            output = self.out(output)
            return output, hidden, attn_weights

    n = len(pairs)
    input_ids = np.zeros((n, MAX_LENGTH), dtype=np.int32)
    target_ids = np.zeros((n, MAX_LENGTH), dtype=np.int32)
    for idx, (inp, tgt) in enumerate(pairs):
        inp_ids = inp + [EOS_token]
        tgt_ids = tgt + [EOS_token]
        input_ids[idx, : len(inp_ids)] = inp_ids
        target_ids[idx, : len(tgt_ids)] = tgt_ids
    tud = importlib.import_module(torch.__name__ + ".utils.data")
    train_data = tud.TensorDataset(
        torch.LongTensor(input_ids).to(device), torch.LongTensor(target_ids).to(device)
    )
    train_sampler = tud.RandomSampler(train_data)
    train_dataloader = tud.DataLoader(train_data, sampler=train_sampler, batch_size=32)
    hidden_size = 32
    encoder = EncoderRNN(n_words, hidden_size).to(device)
    decoder = AttnDecoderRNN(hidden_size, n_words).to(device)
    encoder_optimizer = optim.Adam(encoder.parameters(), lr=0.01)
    decoder_optimizer = optim.Adam(decoder.parameters(), lr=0.01)
    criterion = nn.NLLLoss()
    losses = []
    for epoch in range(1, 16):
        total_loss = 0
        for data in train_dataloader:
            input_tensor, target_tensor = data
            encoder_optimizer.zero_grad()
            decoder_optimizer.zero_grad()
            encoder_outputs, encoder_hidden = encoder(input_tensor)
            decoder_outputs, _, _ = decoder(encoder_outputs, encoder_hidden, target_tensor)
            loss = criterion(
                decoder_outputs.view(-1, decoder_outputs.size(-1)), target_tensor.view(-1)
            )
            loss.backward()
            encoder_optimizer.step()
            decoder_optimizer.step()
            total_loss += loss.item()
        losses.append(total_loss / len(train_dataloader))
    print(losses)
    encoder.eval()
    decoder.eval()
    with torch.no_grad():
        input_tensor = torch.tensor([[3, 4, 5, EOS_token]], dtype=torch.long, device=device)
        encoder_outputs, encoder_hidden = encoder(input_tensor)
        decoder_outputs, decoder_hidden, decoder_attn = decoder(encoder_outputs, encoder_hidden)
        _, topi = decoder_outputs.topk(1)
        decoded_ids = topi.squeeze()
        decoded_words = []
        for idx in decoded_ids:
            if idx.item() == EOS_token:
                decoded_words.append("<EOS>")
                break
            decoded_words.append(str(idx.item()))
    print(decoded_words, decoder_attn.shape)
    ft = torch.FloatTensor([1.0, 2.0])
    assert ft.dtype == torch.float32
    assert torch.FloatTensor(2, 3).shape == (2, 3)
    assert losses[-1] < 0.5 * losses[0], losses
    return losses[-1]


def _transformer_lm(torch):
    nn = torch.nn
    TransformerEncoder, TransformerEncoderLayer = nn.TransformerEncoder, nn.TransformerEncoderLayer
    torch.manual_seed(0)

    class PositionalEncoding(nn.Module):
        def __init__(self, d_model: int, dropout: float = 0.1, max_len: int = 5000):
            super().__init__()
            self.dropout = nn.Dropout(p=dropout)
            position = torch.arange(max_len).unsqueeze(1)
            div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
            pe = torch.zeros(max_len, 1, d_model)
            pe[:, 0, 0::2] = torch.sin(position * div_term)
            pe[:, 0, 1::2] = torch.cos(position * div_term)
            self.register_buffer("pe", pe)

        def forward(self, x):
            x = x + self.pe[: x.size(0)]
            return self.dropout(x)

    class TransformerModel(nn.Module):
        def __init__(self, ntoken, d_model, nhead, d_hid, nlayers, dropout=0.5):
            super().__init__()
            self.model_type = "Transformer"
            self.pos_encoder = PositionalEncoding(d_model, dropout, max_len=100)
            encoder_layers = TransformerEncoderLayer(d_model, nhead, d_hid, dropout)
            self.transformer_encoder = TransformerEncoder(
                encoder_layers, nlayers, enable_nested_tensor=False
            )
            self.embedding = nn.Embedding(ntoken, d_model)
            self.d_model = d_model
            self.linear = nn.Linear(d_model, ntoken)
            self.init_weights()

        def init_weights(self) -> None:
            initrange = 0.1
            nn.init.uniform_(self.embedding.weight, -initrange, initrange)
            nn.init.zeros_(self.linear.bias)
            nn.init.uniform_(self.linear.weight, -initrange, initrange)

        def forward(self, src, src_mask=None):
            src = self.embedding(src) * math.sqrt(self.d_model)
            src = self.pos_encoder(src)
            if src_mask is None:
                src_mask = nn.Transformer.generate_square_subsequent_mask(len(src)).to(src.device)
            output = self.transformer_encoder(src, src_mask)
            output = self.linear(output)
            return output

    # a periodic token stream, easy to learn
    ntokens = 12
    stream = torch.tensor([i % ntokens for i in range(600)], dtype=torch.long)

    def batchify(data, bsz):
        seq_len = data.size(0) // bsz
        data = data[: seq_len * bsz]
        data = data.view(bsz, seq_len).t().contiguous()
        return data

    train_data = batchify(stream, 10)
    bptt = 16

    def get_batch(source, i):
        seq_len = min(bptt, len(source) - 1 - i)
        data = source[i : i + seq_len]
        target = source[i + 1 : i + 1 + seq_len].reshape(-1)
        return data, target

    model = TransformerModel(ntokens, 32, 2, 64, 2, 0.1)
    criterion = nn.CrossEntropyLoss()
    lr = 0.5
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1.0, gamma=0.95)
    losses = []
    for epoch in range(3):
        model.train()
        total_loss = 0.0
        for batch, i in enumerate(range(0, train_data.size(0) - 1, bptt)):
            data, targets = get_batch(train_data, i)
            output = model(data)
            output_flat = output.view(-1, ntokens)
            loss = criterion(output_flat, targets)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            optimizer.step()
            total_loss += loss.item()
        losses.append(total_loss / (batch + 1))
        ppl = math.exp(losses[-1])
        print(
            f"| epoch {epoch:3d} | lr {scheduler.get_last_lr()[0]:02.2f} | loss {losses[-1]:5.2f} | ppl {ppl:8.2f}"
        )
        scheduler.step()
    model.eval()
    with torch.no_grad():
        data, targets = get_batch(train_data, 0)
        acc = (model(data).argmax(-1).view(-1) == targets).float().mean().item()
    mask = nn.Transformer.generate_square_subsequent_mask(3)
    assert (
        mask.dtype == torch.float32
        and mask[0, 1].item() == float("-inf")
        and mask[1, 0].item() == 0.0
    )
    assert "pe" in dict(model.named_buffers()) or "pos_encoder.pe" in dict(model.named_buffers())
    assert "pos_encoder.pe" in model.state_dict()
    print(losses, acc)
    assert losses[-1] < losses[0] and acc > 0.5, (losses, acc)
    return losses[-1]


def _autograd_snippets(torch):
    torch.manual_seed(0)
    x = torch.ones(5)
    y = torch.zeros(3)
    w = torch.randn(5, 3, requires_grad=True)
    b = torch.randn(3, requires_grad=True)
    z = torch.matmul(x, w) + b
    loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
    print(f"Gradient function for z = {z.grad_fn}")
    print(f"Gradient function for loss = {loss.grad_fn}")
    assert z.grad_fn is not None
    loss.backward()
    print(w.grad)
    print(b.grad)
    assert w.grad.shape == w.shape
    z = torch.matmul(x, w) + b
    assert z.requires_grad
    with torch.no_grad():
        z = torch.matmul(x, w) + b
    assert not z.requires_grad
    z = torch.matmul(x, w) + b
    z_det = z.detach()
    assert not z_det.requires_grad
    inp = torch.eye(4, 5, requires_grad=True)
    out = (inp + 1).pow(2).t()
    out.backward(torch.ones_like(out), retain_graph=True)
    g1 = inp.grad.clone()
    out.backward(torch.ones_like(out), retain_graph=True)
    assert torch.allclose(inp.grad, 2 * g1)
    inp.grad.zero_()
    out.backward(torch.ones_like(out), retain_graph=True)
    assert torch.allclose(inp.grad, g1)

    a = torch.tensor([2.0, 3.0], requires_grad=True)
    b = torch.tensor([6.0, 4.0], requires_grad=True)
    Q = 3 * a**3 - b**2
    external_grad = torch.tensor([1.0, 1.0])
    Q.backward(gradient=external_grad)
    assert (9 * a**2 == a.grad).all().item()
    assert bool((-2 * b == b.grad).all())

    # manual gradient descent (the "numpy to autograd" tutorial)
    dtype = torch.float
    device = torch.device("cpu")
    xx = torch.linspace(-math.pi, math.pi, 200, device=device, dtype=dtype)
    yy = torch.sin(xx)
    a = torch.randn((), device=device, dtype=dtype, requires_grad=True)
    b = torch.randn((), device=device, dtype=dtype, requires_grad=True)
    c = torch.randn((), device=device, dtype=dtype, requires_grad=True)
    d = torch.randn((), device=device, dtype=dtype, requires_grad=True)
    learning_rate = 1e-6
    first = None
    for t in range(300):
        y_pred = a + b * xx + c * xx**2 + d * xx**3
        loss = (y_pred - yy).pow(2).sum()
        if first is None:
            first = loss.item()
        loss.backward()
        with torch.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad
            a.grad = None
            b.grad = None
            c.grad.zero_()
            d.grad.zero_()
    print(f"Result: y = {a.item()} + {b.item()} x + {c.item()} x^2 + {d.item()} x^3")
    assert loss.item() < first
    assert a.is_leaf and a.requires_grad and a.grad_fn is None

    # requires_grad_, autograd.grad, enable_grad, set_grad_enabled
    v = torch.randn(3).requires_grad_()
    (gv,) = torch.autograd.grad((v * v).sum(), v)
    assert torch.allclose(gv, 2 * v)
    with torch.no_grad():
        with torch.enable_grad():
            q = v * 2
        r = v * 2
    assert q.requires_grad and not r.requires_grad
    torch.set_grad_enabled(False)
    try:
        assert not (v * 2).requires_grad
        assert not torch.is_grad_enabled()
    finally:
        torch.set_grad_enabled(True)
    assert torch.is_grad_enabled()
    with torch.set_grad_enabled(False):
        assert not (v * 2).requires_grad
    assert (v * 2).requires_grad

    @torch.no_grad()
    def f(t):
        return t * 2

    assert not f(v).requires_grad
    # numpy bridge: shared memory
    t = torch.ones(5)
    n = t.numpy()
    t.add_(1)
    assert n[0] == 2.0
    n2 = np.ones(5)
    t2 = torch.from_numpy(n2)
    np.add(n2, 1, out=n2)
    assert t2[0].item() == 2.0 and t2.dtype == torch.float64
    assert v.detach().numpy().shape == (3,)
    assert v.detach().cpu().numpy().dtype == np.float32
    tt = torch.tensor([[1, 2], [3, 4]])
    assert tt.dtype == torch.int64 and tt.dtype == torch.long
    assert torch.tensor([1.5]).dtype == torch.float32
    assert tt.tolist() == [[1, 2], [3, 4]]
    assert isinstance(tt.sum().item(), int)
    assert torch.is_tensor(tt) and torch.numel(tt) == 4
    x = torch.rand(4, 4)
    x[:, 1] = 0
    assert x[:, 1].sum().item() == 0.0
    print(f"{torch.tensor(1.5).item():.2f}", tt)
    return loss.item()


def _regression(torch):
    nn = torch.nn
    optim = torch.optim
    torch.manual_seed(42)
    X = torch.randn(100, 1) * 2 + 1
    y = 3 * X + 2 + 0.1 * torch.randn(100, 1)
    Xv = torch.linspace(-2, 4, 50).unsqueeze(1)
    yv = 3 * Xv + 2
    model = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))
    criterion = nn.MSELoss()
    optimizer = optim.Adam(model.parameters(), lr=0.05)
    scheduler = optim.lr_scheduler.ReduceLROnPlateau(optimizer, "min", patience=5, factor=0.5)
    best, bad, patience = float("inf"), 0, 20
    best_state = None
    history = []
    for epoch in range(300):
        model.train()
        optimizer.zero_grad()
        out = model(X)
        loss = criterion(out, y)
        loss.backward()
        optimizer.step()
        model.eval()
        with torch.no_grad():
            val_loss = criterion(model(Xv), yv).item()
        scheduler.step(val_loss)
        history.append(val_loss)
        if val_loss < best - 1e-4:
            best, bad = val_loss, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
            if bad >= patience:
                print(f"early stop at {epoch}")
                break
        if epoch % 50 == 0:
            print(
                f"epoch {epoch}: train {loss.item():.4f} val {val_loss:.4f} lr {optimizer.param_groups[0]['lr']}"
            )
    model.load_state_dict(best_state)
    with torch.no_grad():
        final = criterion(model(Xv), yv).item()
    assert final == min(history) or abs(final - best) < 1e-6
    assert final < 0.2 * history[0], (history[0], final)
    w = model[0].weight
    assert isinstance(w, nn.Parameter) and w.size() == (16, 1) and w.size(0) == 16
    # simple linear regression as in many courses
    lin = nn.Linear(1, 1)
    opt = optim.SGD(lin.parameters(), lr=0.01)
    for _ in range(500):
        opt.zero_grad()
        l = nn.functional.mse_loss(lin(X), y)
        l.backward()
        opt.step()
    [wv, bv] = [p.item() for p in lin.parameters()]
    assert abs(wv - 3) < 0.1 and abs(bv - 2) < 0.2, (wv, bv)
    return final


def _custom_module(torch):
    nn = torch.nn
    optim = torch.optim
    torch.manual_seed(0)

    class MyLinear(nn.Module):
        def __init__(self, in_features, out_features):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(in_features, out_features))
            self.bias = nn.Parameter(torch.randn(out_features))

        def forward(self, input):
            return (input @ self.weight) + self.bias

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleDict(
                {"l0": MyLinear(4, 8), "act": nn.ReLU(), "l1": nn.Linear(8, 3)}
            )
            self.scales = nn.ParameterList([nn.Parameter(torch.ones(3)) for _ in range(2)])
            self.blocks = nn.ModuleList([nn.Linear(3, 3) for _ in range(2)])

        def forward(self, x):
            for name in ["l0", "act", "l1"]:
                x = self.layers[name](x)
            for s, blk in zip(self.scales, self.blocks):
                x = blk(x) * s
            return x

    net = Net()

    def init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            with torch.no_grad():
                m.bias.fill_(0.01)

    net.apply(init_weights)
    assert torch.all(net.layers["l1"].bias == 0.01)
    names = [n for n, _ in net.named_modules()]
    assert names[0] == "" and "layers.l0" in names and "blocks.1" in names, names
    pnames = [n for n, _ in net.named_parameters()]
    assert "scales.0" in pnames and "layers.l0.weight" in pnames, pnames
    n_params = sum(p.numel() for p in net.parameters() if p.requires_grad)
    assert n_params == 4 * 8 + 8 + 8 * 3 + 3 + 3 + 3 + 2 * (9 + 3)
    print(net)
    net.layers["l0"].requires_grad_(False)
    for p in net.layers["l1"].parameters():
        p.requires_grad = False
    trainable = [p for p in net.parameters() if p.requires_grad]
    assert len(trainable) == 2 + 4
    optimizer = optim.SGD(
        [
            {"params": net.blocks.parameters()},
            {"params": net.scales.parameters(), "lr": 1e-3},
        ],
        lr=1e-1,
        momentum=0.9,
    )
    assert optimizer.param_groups[1]["lr"] == 1e-3 and optimizer.param_groups[0]["momentum"] == 0.9
    x = torch.randn(64, 4)
    target = torch.randint(0, 3, (64,))
    frozen = net.layers["l0"].weight.clone()
    crit = nn.CrossEntropyLoss()
    losses = []
    for _ in range(50):
        optimizer.zero_grad()
        loss = crit(net(x), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert torch.equal(frozen, net.layers["l0"].weight)
    assert net.layers["l0"].weight.grad is None
    assert losses[-1] < losses[0]
    for m in net.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.constant_(m.bias, 0)
    sd = net.state_dict()
    assert list(sd.keys())[0] == "layers.l0.weight"
    net2 = Net()
    missing = net2.load_state_dict(sd, strict=True)
    assert not missing.missing_keys and not missing.unexpected_keys
    assert sum(1 for _ in net.children()) == 3
    net.zero_grad(set_to_none=True)
    net.eval()
    assert not net.training and not net.layers["l1"].training
    net.train()
    assert net.blocks[0].training
    net.double()
    assert net.blocks[0].weight.dtype == torch.float64
    net.float()
    assert next(net.parameters()).dtype == torch.float32
    return losses[-1]


def _custom_function(torch):
    torch.manual_seed(0)

    class MyReLU(torch.autograd.Function):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return input.clamp(min=0)

        @staticmethod
        def backward(ctx, grad_output):
            (input,) = ctx.saved_tensors
            grad_input = grad_output.clone()
            grad_input[input < 0] = 0
            return grad_input

    class LegendrePolynomial3(torch.autograd.Function):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return 0.5 * (5 * input**3 - 3 * input)

        @staticmethod
        def backward(ctx, grad_output):
            (input,) = ctx.saved_tensors
            return grad_output * 1.5 * (5 * input**2 - 1)

    class MulConstant(torch.autograd.Function):
        @staticmethod
        def forward(ctx, tensor, constant):
            ctx.constant = constant
            return tensor * constant

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output * ctx.constant, None

    class LinearFunction(torch.autograd.Function):
        @staticmethod
        def forward(input, weight, bias):
            output = input.mm(weight.t())
            if bias is not None:
                output += bias.unsqueeze(0).expand_as(output)
            return output

        @staticmethod
        def setup_context(ctx, inputs, output):
            input, weight, bias = inputs
            ctx.save_for_backward(input, weight, bias)

        @staticmethod
        def backward(ctx, grad_output):
            input, weight, bias = ctx.saved_tensors
            grad_input = grad_weight = grad_bias = None
            if ctx.needs_input_grad[0]:
                grad_input = grad_output.mm(weight)
            if ctx.needs_input_grad[1]:
                grad_weight = grad_output.t().mm(input)
            if bias is not None and ctx.needs_input_grad[2]:
                grad_bias = grad_output.sum(0)
            return grad_input, grad_weight, grad_bias

    gradcheck = torch.autograd.gradcheck
    inp = (
        torch.randn(20, 20, dtype=torch.double, requires_grad=True),
        torch.randn(30, 20, dtype=torch.double, requires_grad=True),
    )
    test = gradcheck(LinearFunction.apply, inp + (None,), eps=1e-6, atol=1e-4)
    assert test
    inp3 = inp + (torch.randn(30, dtype=torch.double, requires_grad=True),)
    assert gradcheck(LinearFunction.apply, inp3, eps=1e-6, atol=1e-4)
    assert gradcheck(
        LegendrePolynomial3.apply, (torch.randn(5, dtype=torch.double, requires_grad=True),)
    )
    x = torch.randn(4, dtype=torch.double, requires_grad=True)
    assert gradcheck(lambda t: MulConstant.apply(t, 3.0), (x,))
    r = MyReLU.apply(x)
    r.sum().backward()
    assert torch.equal(x.grad, (x > 0).double())

    # the "polynomial with custom function" tutorial
    dtype = torch.float
    xx = torch.linspace(-math.pi, math.pi, 200, dtype=dtype)
    y = torch.sin(xx)
    a = torch.full((), 0.0, dtype=dtype, requires_grad=True)
    b = torch.full((), -1.0, dtype=dtype, requires_grad=True)
    c = torch.full((), 0.0, dtype=dtype, requires_grad=True)
    d = torch.full((), 0.3, dtype=dtype, requires_grad=True)
    learning_rate = 5e-6
    first = None
    for t in range(200):
        P3 = LegendrePolynomial3.apply
        y_pred = a + b * P3(c + d * xx)
        loss = (y_pred - y).pow(2).sum()
        if first is None:
            first = loss.item()
        loss.backward()
        with torch.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad
            a.grad = None
            b.grad = None
            c.grad = None
            d.grad = None
    print(f"Result: y = {a.item()} + {b.item()} * P3({c.item()} + {d.item()} x)")
    assert loss.item() < first
    return loss.item()


def _vae(torch):
    nn = torch.nn
    F = torch.nn.functional
    optim = torch.optim
    torch.manual_seed(0)
    X, _ = ember.datasets.load_digits()
    data = torch.from_numpy((X / 16.0).astype(np.float32))

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(64, 32)
            self.fc21 = nn.Linear(32, 4)
            self.fc22 = nn.Linear(32, 4)
            self.fc3 = nn.Linear(4, 32)
            self.fc4 = nn.Linear(32, 64)

        def encode(self, x):
            h1 = F.relu(self.fc1(x))
            return self.fc21(h1), self.fc22(h1)

        def reparameterize(self, mu, logvar):
            std = torch.exp(0.5 * logvar)
            eps = torch.randn_like(std)
            return mu + eps * std

        def decode(self, z):
            h3 = F.relu(self.fc3(z))
            return torch.sigmoid(self.fc4(h3))

        def forward(self, x):
            mu, logvar = self.encode(x.view(-1, 64))
            z = self.reparameterize(mu, logvar)
            return self.decode(z), mu, logvar

    model = VAE()
    optimizer = optim.Adam(model.parameters(), lr=1e-2)

    def loss_function(recon_x, x, mu, logvar):
        BCE = F.binary_cross_entropy(recon_x, x.view(-1, 64), reduction="sum")
        KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return BCE + KLD

    losses = []
    for epoch in range(1, 6):
        model.train()
        train_loss = 0
        perm = torch.randperm(len(data))
        for batch_idx in range(0, len(data), 128):
            batch = data[perm[batch_idx : batch_idx + 128]]
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(batch)
            loss = loss_function(recon_batch, batch, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
        losses.append(train_loss / len(data))
    with torch.no_grad():
        sample = torch.randn(8, 4)
        sample = model.decode(sample).cpu()
        assert sample.view(8, 1, 8, 8).shape == (8, 1, 8, 8)
    assert losses[-1] < losses[0], losses
    return losses


def _gan(torch):
    nn = torch.nn
    optim = torch.optim
    torch.manual_seed(0)
    X, _ = ember.datasets.load_digits(as_images=True)
    real_all = torch.from_numpy((X / 8.0 - 1.0).astype(np.float32))
    nz = 8

    def weights_init(m):
        classname = m.__class__.__name__
        if classname.find("Conv") != -1:
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif classname.find("BatchNorm") != -1:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.constant_(m.bias, 0)

    netG = nn.Sequential(
        nn.ConvTranspose2d(nz, 16, 4, 1, 0, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(True),
        nn.ConvTranspose2d(16, 1, 4, 2, 1, bias=False),
        nn.Tanh(),
    )
    netD = nn.Sequential(
        nn.Conv2d(1, 16, 4, 2, 1, bias=False),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(16, 1, 4, 1, 0, bias=False),
        nn.Sigmoid(),
    )
    netG.apply(weights_init)
    netD.apply(weights_init)
    criterion = nn.BCELoss()
    fixed_noise = torch.randn(16, nz, 1, 1)
    real_label, fake_label = 1.0, 0.0
    optimizerD = optim.Adam(netD.parameters(), lr=2e-3, betas=(0.5, 0.999))
    optimizerG = optim.Adam(netG.parameters(), lr=2e-3, betas=(0.5, 0.999))
    G_losses, D_losses = [], []
    for epoch in range(2):
        for i in range(0, 640, 64):
            netD.zero_grad()
            real_cpu = real_all[i : i + 64]
            b_size = real_cpu.size(0)
            label = torch.full((b_size,), real_label, dtype=torch.float)
            output = netD(real_cpu).view(-1)
            errD_real = criterion(output, label)
            errD_real.backward()
            D_x = output.mean().item()
            noise = torch.randn(b_size, nz, 1, 1)
            fake = netG(noise)
            label.fill_(fake_label)
            output = netD(fake.detach()).view(-1)
            errD_fake = criterion(output, label)
            errD_fake.backward()
            D_G_z1 = output.mean().item()
            errD = errD_real + errD_fake
            optimizerD.step()
            netG.zero_grad()
            label.fill_(real_label)
            output = netD(fake).view(-1)
            errG = criterion(output, label)
            errG.backward()
            D_G_z2 = output.mean().item()
            optimizerG.step()
            G_losses.append(errG.item())
            D_losses.append(errD.item())
    with torch.no_grad():
        fake = netG(fixed_noise).detach().cpu()
    assert fake.shape == (16, 1, 7, 7) or fake.shape[0] == 16, fake.shape
    assert all(np.isfinite(G_losses)) and 0 <= D_x <= 1 and 0 <= D_G_z1 <= 1 and 0 <= D_G_z2 <= 1
    return G_losses[-1], D_losses[-1]


def _lstm_classifier(torch):
    nn = torch.nn
    torch.manual_seed(0)
    pack_padded_sequence = nn.utils.rnn.pack_padded_sequence
    pad_packed_sequence = nn.utils.rnn.pad_packed_sequence
    pad_sequence = nn.utils.rnn.pad_sequence
    rng = np.random.default_rng(0)
    seqs, labels = [], []
    for _ in range(200):
        n = int(rng.integers(3, 9))
        lab = int(rng.integers(0, 2))
        toks = rng.integers(1, 5, n) + 4 * lab  # class 0 uses tokens 1..4, class 1 5..8
        seqs.append(torch.tensor(toks, dtype=torch.long))
        labels.append(lab)

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(9, 8, padding_idx=0)
            self.lstm = nn.LSTM(8, 16, batch_first=True)
            self.fc = nn.Linear(16, 2)

        def forward(self, x, lengths):
            packed = pack_padded_sequence(
                self.emb(x), lengths, batch_first=True, enforce_sorted=False
            )
            out, (h, c) = self.lstm(packed)
            unpacked, lens = pad_packed_sequence(out, batch_first=True)
            assert unpacked.shape[0] == x.shape[0]
            return self.fc(h[-1])

    model = Classifier()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    crit = nn.CrossEntropyLoss()
    losses = []
    for epoch in range(3):
        for i in range(0, 200, 32):
            batch = seqs[i : i + 32]
            lengths = torch.tensor([len(s) for s in batch])
            x = pad_sequence(batch, batch_first=True)
            y = torch.tensor(labels[i : i + 32])
            opt.zero_grad()
            loss = crit(model(x, lengths), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
    assert losses[-1] < losses[0], losses
    return losses[-1]


def _seq2seq_classic(torch):
    nn = torch.nn
    F = torch.nn.functional
    optim = torch.optim
    torch.manual_seed(0)
    random.seed(0)
    device = torch.device("cpu")
    SOS_token, EOS_token, MAX_LENGTH = 0, 1, 6
    pairs = []
    for _ in range(60):
        s = [random.randint(2, 7) for _ in range(random.randint(2, 4))]
        pairs.append((s, s[::-1]))

    class EncoderRNN(nn.Module):
        def __init__(self, input_size, hidden_size):
            super().__init__()
            self.hidden_size = hidden_size
            self.embedding = nn.Embedding(input_size, hidden_size)
            self.gru = nn.GRU(hidden_size, hidden_size)

        def forward(self, input, hidden):
            embedded = self.embedding(input).view(1, 1, -1)
            output = embedded
            output, hidden = self.gru(output, hidden)
            return output, hidden

        def initHidden(self):
            return torch.zeros(1, 1, self.hidden_size, device=device)

    class AttnDecoderRNN(nn.Module):
        def __init__(self, hidden_size, output_size, dropout_p=0.1, max_length=MAX_LENGTH):
            super().__init__()
            self.hidden_size = hidden_size
            self.output_size = output_size
            self.max_length = max_length
            self.embedding = nn.Embedding(self.output_size, self.hidden_size)
            self.attn = nn.Linear(self.hidden_size * 2, self.max_length)
            self.attn_combine = nn.Linear(self.hidden_size * 2, self.hidden_size)
            self.dropout = nn.Dropout(dropout_p)
            self.gru = nn.GRU(self.hidden_size, self.hidden_size)
            self.out = nn.Linear(self.hidden_size, self.output_size)

        def forward(self, input, hidden, encoder_outputs):
            embedded = self.embedding(input).view(1, 1, -1)
            embedded = self.dropout(embedded)
            attn_weights = F.softmax(self.attn(torch.cat((embedded[0], hidden[0]), 1)), dim=1)
            attn_applied = torch.bmm(attn_weights.unsqueeze(0), encoder_outputs.unsqueeze(0))
            output = torch.cat((embedded[0], attn_applied[0]), 1)
            output = self.attn_combine(output).unsqueeze(0)
            output = F.relu(output)
            output, hidden = self.gru(output, hidden)
            output = F.log_softmax(self.out(output[0]), dim=1)
            return output, hidden, attn_weights

    def tensorFromSentence(ids):
        return torch.tensor(ids + [EOS_token], dtype=torch.long, device=device).view(-1, 1)

    teacher_forcing_ratio = 0.5

    def train(
        input_tensor,
        target_tensor,
        encoder,
        decoder,
        encoder_optimizer,
        decoder_optimizer,
        criterion,
        max_length=MAX_LENGTH,
    ):
        encoder_hidden = encoder.initHidden()
        encoder_optimizer.zero_grad()
        decoder_optimizer.zero_grad()
        input_length = input_tensor.size(0)
        target_length = target_tensor.size(0)
        encoder_outputs = torch.zeros(max_length, encoder.hidden_size, device=device)
        loss = 0
        for ei in range(input_length):
            encoder_output, encoder_hidden = encoder(input_tensor[ei], encoder_hidden)
            encoder_outputs[ei] = encoder_output[0, 0]
        decoder_input = torch.tensor([[SOS_token]], device=device)
        decoder_hidden = encoder_hidden
        use_teacher_forcing = True if random.random() < teacher_forcing_ratio else False
        if use_teacher_forcing:
            for di in range(target_length):
                decoder_output, decoder_hidden, decoder_attention = decoder(
                    decoder_input, decoder_hidden, encoder_outputs
                )
                loss += criterion(decoder_output, target_tensor[di])
                decoder_input = target_tensor[di]  # Teacher forcing
        else:
            for di in range(target_length):
                decoder_output, decoder_hidden, decoder_attention = decoder(
                    decoder_input, decoder_hidden, encoder_outputs
                )
                topv, topi = decoder_output.topk(1)
                decoder_input = topi.squeeze().detach()  # detach from history as input
                loss += criterion(decoder_output, target_tensor[di])
                if decoder_input.item() == EOS_token:
                    break
        loss.backward()
        encoder_optimizer.step()
        decoder_optimizer.step()
        return loss.item() / target_length

    hidden_size = 16
    encoder = EncoderRNN(8, hidden_size).to(device)
    decoder = AttnDecoderRNN(hidden_size, 8, dropout_p=0.1).to(device)
    encoder_optimizer = optim.SGD(encoder.parameters(), lr=0.05)
    decoder_optimizer = optim.SGD(decoder.parameters(), lr=0.05)
    criterion = nn.NLLLoss()
    losses = []
    for it in range(300):
        inp, tgt = random.choice(pairs)
        losses.append(
            train(
                tensorFromSentence(inp),
                tensorFromSentence(tgt),
                encoder,
                decoder,
                encoder_optimizer,
                decoder_optimizer,
                criterion,
            )
        )
    first, last = sum(losses[:50]) / 50, sum(losses[-50:]) / 50
    assert last < first, (first, last)
    return last


# ---- the scripts on ember ------------------------------------------------------------------------


def test_quickstart():
    import ember as torch

    _quickstart(torch)


def test_mnist_cnn():
    import ember as torch

    _mnist(torch)


def test_cifar_loop():
    import ember as torch

    _cifar(torch)


def test_char_rnn_classification():
    import ember as torch

    _char_rnn(torch)


def test_seq2seq_attention():
    import ember as torch

    _seq2seq(torch)


def test_seq2seq_classic_tutorial():
    # encoder_outputs[ei] = encoder_output[0, 0] once per step: repeated index assignment
    import ember as torch

    _seq2seq_classic(torch)


def test_transformer_language_model():
    import ember as torch

    _transformer_lm(torch)


def test_autograd_tutorial():
    import ember as torch

    _autograd_snippets(torch)


def test_regression_early_stopping():
    import ember as torch

    _regression(torch)


def test_custom_module():
    import ember as torch

    _custom_module(torch)


def test_custom_autograd_function():
    import ember as torch

    _custom_function(torch)


def test_vae():
    import ember as torch

    _vae(torch)


def test_dcgan_style_gan():
    import ember as torch

    _gan(torch)


def test_lstm_classifier_packed_sequences():
    import ember as torch

    _lstm_classifier(torch)


def test_custom_function_matches_torch():
    real = pytest.importorskip("torch")
    import ember as torch

    # deterministic (no random draw): the same losses to float32 rounding
    np.testing.assert_allclose(_custom_function(torch), _custom_function(real), rtol=1e-4)


# ---- the gaps those scripts found, one by one ----------------------------------------------------


def test_set_grad_enabled_call_context_and_decorator():
    x = ember.ones(2, requires_grad=True)
    ember.set_grad_enabled(False)
    try:
        assert not (x * 2).requires_grad and not ember.is_grad_enabled()
    finally:
        ember.set_grad_enabled(True)
    with ember.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad
    with ember.no_grad(), ember.set_grad_enabled(True):
        assert (x * 2).requires_grad

    @ember.set_grad_enabled(False)
    def f(t):
        return t * 2

    assert ember.is_grad_enabled() and not f(x).requires_grad and ember.is_grad_enabled()


def test_bare_grad_mode_decorators():
    x = ember.ones(2, requires_grad=True)

    @ember.no_grad
    def f():
        return x * 2

    @ember.enable_grad
    def g():
        return x * 2

    assert not f().requires_grad and (x * 2).requires_grad
    with ember.no_grad():
        assert g().requires_grad and not (x * 2).requires_grad


def test_user_function_sees_tensors_and_setup_context():
    seen = []

    class Scale(ember.autograd.Function):
        @staticmethod
        def forward(x, k):
            seen.append(type(x))
            return x.clamp(min=0) * k

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])
            ctx.k = inputs[1]

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            seen.append(type(g))
            grad = g.clone() * ctx.k
            grad[x < 0] = 0
            return grad, None

    x = ember.tensor([-1.0, 2.0, 3.0], dtype=ember.float64, requires_grad=True)
    y = Scale.apply(x, 3.0)
    assert isinstance(y, ember.Tensor) and y.requires_grad and y.grad_fn is not None
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 3.0, 3.0])
    assert seen == [ember.Tensor, ember.Tensor]
    assert ember.autograd.gradcheck(lambda t: Scale.apply(t, 2.0), (x,))


def test_gradcheck_leaves_grad_alone():
    torch = pytest.importorskip("torch")
    for lib in (torch, ember):
        x = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        assert lib.autograd.gradcheck(lambda t: t * 3.0, (x,))
        assert x.grad is None


def test_legacy_typed_constructors_match_torch():
    torch = pytest.importorskip("torch")
    cases = [([1.7, -2.2],), (np.arange(3, dtype=np.int32),), (2, 3), (), ((2, 3),), ([True, 0],)]
    for name in ["FloatTensor", "DoubleTensor", "LongTensor", "IntTensor", "BoolTensor"]:
        for args in cases:
            e, t = getattr(ember, name)(*args), getattr(torch, name)(*args)
            assert e.shape == tuple(t.shape) and str(e.dtype) == str(t.dtype).split(".")[1]
            if args and not isinstance(args[0], int):
                np.testing.assert_array_equal(e.numpy(), t.numpy())
    assert isinstance(ember.ones(2), ember.FloatTensor)
    assert not isinstance(ember.ones(2, dtype=ember.long), ember.FloatTensor)
    with pytest.raises(TypeError, match="LongTensor"):
        ember.LongTensor(ember.ones(2))


def test_size_is_a_tuple_like_torch_size():
    torch = pytest.importorskip("torch")
    e, t = ember.zeros(2, 3, 4), torch.zeros(2, 3, 4)
    assert e.size() == ember.Size([2, 3, 4]) == tuple(t.size()) and e.shape == (2, 3, 4)
    assert e.shape == t.shape and e.size() == t.size()
    size = e.size()  # a Size; .shape stays a plain tuple (cheap for ops), equal to it
    assert isinstance(size, tuple) and isinstance(size, ember.Size)
    assert size.numel() == t.size().numel() == 24
    assert isinstance(size[1:], ember.Size) and size[1:] == (3, 4) and size[-1] == 4
    assert repr(size) == "ember.Size([2, 3, 4])"
    assert f"{size}" == "(2, 3, 4)"  # messages keep the tuple form


def test_gpu_queries_say_cpu_only():
    assert not ember.cuda.is_available() and ember.cuda.device_count() == 0
    ember.cuda.manual_seed(0)
    ember.cuda.manual_seed_all(0)
    ember.cuda.empty_cache()  # scripts call these unguarded; torch's CPU build answers so too
    assert ember.cuda.memory_allocated() == ember.cuda.max_memory_allocated() == 0
    with pytest.raises(RuntimeError, match="CPU only"):
        ember.cuda.current_device()
    assert not ember.accelerator.is_available() and ember.accelerator.current_accelerator() is None
    assert not ember.backends.mps.is_available()
    ember.backends.cudnn.deterministic = True
    device = ember.device("cuda" if ember.cuda.is_available() else "cpu")
    assert device.type == "cpu"


def test_factories_take_requires_grad():
    for t in (ember.eye(3, requires_grad=True), ember.linspace(0, 1, 5, requires_grad=True)):
        assert t.requires_grad and t.is_leaf


def test_step_lr_takes_a_whole_float_step_size():
    p = ember.nn.Parameter(ember.ones(1))
    opt = ember.optim.SGD([p], lr=1.0)
    sched = ember.optim.lr_scheduler.StepLR(opt, 1.0, gamma=0.5)
    for _ in range(2):
        opt.step()
        sched.step()
    assert sched.get_last_lr() == [0.25]
    with pytest.raises(ValueError, match="step_size"):
        ember.optim.lr_scheduler.StepLR(opt, 1.5)


def test_inference_mode_finfo_iinfo_and_generators():
    x = ember.ones(2, requires_grad=True)
    with ember.inference_mode():
        assert not (x * 2).requires_grad
    with ember.inference_mode(False):
        assert (x * 2).requires_grad

    @ember.inference_mode()
    def f():
        return x * 2

    @ember.inference_mode
    def g():
        return x * 2

    assert not f().requires_grad and not g().requires_grad and (x * 2).requires_grad
    assert ember.finfo(ember.float32).eps == np.finfo(np.float32).eps
    assert ember.iinfo(ember.int64).max == 2**63 - 1
    for make in (
        lambda g: ember.randn(2, 3, generator=g),
        lambda g: ember.rand(4, generator=g),
        lambda g: ember.randint(0, 10, (5,), generator=g),
        lambda g: ember.randperm(6, generator=g),
    ):
        a, b = make(ember.Generator().manual_seed(3)), make(ember.Generator().manual_seed(3))
        assert ember.equal(a, b)


def test_repeated_index_assignment_records_the_graph_like_torch():
    torch = pytest.importorskip("torch")

    def rnn_loop(lib):
        w = lib.tensor(np.linspace(-1, 1, 12).reshape(3, 4), dtype=lib.float64, requires_grad=True)
        x = lib.tensor(np.linspace(0, 1, 10).reshape(5, 2), dtype=lib.float64)
        h = lib.zeros(2, 4, dtype=lib.float64)
        outputs = lib.zeros(5, 2, 4, dtype=lib.float64)
        for t in range(5):  # the outputs buffer filled step by step, as hand-written RNNs do
            h = lib.tanh(h[:, :3] @ w + x[t].reshape(2, 1))
            outputs[t] = h
        outputs[0, 0] = 0.5  # a constant written over part of the graph: no gradient there
        (outputs**2).sum().backward()
        return w.grad.numpy()

    np.testing.assert_allclose(rnn_loop(ember), rnn_loop(torch), rtol=1e-12)
    w = ember.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        w[0] = 2.0


def test_format_of_a_zero_dim_tensor():
    torch = pytest.importorskip("torch")
    for lib in (ember, torch):
        loss = lib.tensor(0.123456)
        assert f"{loss:.4f}" == "0.1235" and "{:>8.2f}".format(loss) == "    0.12"  # noqa: UP032 (str.format on purpose)
        assert f"{lib.tensor(3):d}" == "3"
        with pytest.raises(TypeError, match="unsupported format"):
            f"{lib.ones(2):.2f}"
    assert f"{ember.ones(2)}" == str(ember.ones(2))


def test_softmax_without_dim_warns_and_picks_torchs_dim():
    torch = pytest.importorskip("torch")
    for shape in [(4,), (2, 3), (2, 3, 4), (2, 3, 4, 5)]:
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        for name in ("softmax", "log_softmax"):
            with pytest.warns(UserWarning, match=f"Implicit dimension choice for {name}"):
                got = getattr(ember.nn.functional, name)(ember.tensor(x))
            with pytest.warns(UserWarning):
                want = getattr(torch.nn.functional, name)(torch.tensor(x))
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)


def test_compile_and_global_switches_are_accepted():
    model = ember.nn.Linear(2, 2)
    assert ember.compile(model) is model
    assert ember.compile(mode="max-autotune")(model) is model

    @ember.compile
    def f(x):
        return x * 2

    assert f(ember.ones(1)).item() == 2.0
    ember.set_float32_matmul_precision("high")
    try:
        assert ember.get_float32_matmul_precision() == "high"
        with pytest.warns(UserWarning, match="no effect"):
            ember.set_float32_matmul_precision("bad")
        assert ember.get_float32_matmul_precision() == "high"
    finally:
        ember.set_float32_matmul_precision("highest")
    ember.use_deterministic_algorithms(True)
    try:
        assert ember.are_deterministic_algorithms_enabled()
    finally:
        ember.use_deterministic_algorithms(False)


def test_tensor_class_on_a_list_makes_floats_like_torch():
    torch = pytest.importorskip("torch")
    for data in ([1, 2], [[True, False]], (3, 4.5)):
        e, t = ember.Tensor(data), torch.Tensor(data)
        assert str(e.dtype) == "float32" and t.dtype == torch.float32
        np.testing.assert_array_equal(e.numpy(), t.numpy())
    assert ember.Tensor(np.arange(3)).dtype == np.int64  # arrays keep their dtype (ember's own use)


def _amp_loop(torch, enabled, overflow_at=2):
    nn = torch.nn
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.1, -0.2, 0.3]]))
        model.bias.fill_(0.05)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**4, growth_interval=2, enabled=enabled)
    x = torch.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3))
    y = torch.tensor(np.array([[1.0], [0.0], [1.0], [0.5]], dtype=np.float32))
    scales = []
    for step in range(5):
        optimizer.zero_grad()
        with torch.autocast(device_type="cpu", enabled=False):
            loss = nn.functional.mse_loss(model(x), y)
        if step == overflow_at:
            loss = loss * float("inf")  # an overflowing step is skipped and the scale backs off
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        scaler.step(optimizer)
        scaler.update()
        scales.append(scaler.get_scale())
    return model.weight.detach().numpy().copy(), scales, scaler.state_dict()


def test_grad_scaler_matches_torch():
    torch = pytest.importorskip("torch")
    for enabled in (True, False):
        with np.errstate(all="ignore"):  # the overflowing step's inf/nan gradients
            w_e, s_e, st_e = _amp_loop(ember, enabled, overflow_at=2 if enabled else -1)
        w_t, s_t, st_t = _amp_loop(torch, enabled, overflow_at=2 if enabled else -1)
        np.testing.assert_allclose(w_e, w_t, rtol=1e-6)
        assert s_e == s_t and st_e == st_t, (s_e, s_t, st_e, st_t)
    v = ember.autograd.Variable(ember.ones(2), requires_grad=True)
    assert v.requires_grad and v.is_leaf
    with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"):
        with ember.autograd.detect_anomaly():
            (v * 2).sum().backward()
    assert ember.cuda.amp.GradScaler is ember.amp.GradScaler
